"""file:// URLs, plain paths and http:// URLs, through the same cache."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runtime.storage import ArtifactError, ArtifactStore, StorageSettings

from .archives import MODEL_FILES, model_tarball, write
from .conftest import leftovers

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools


@pytest.fixture
def store(cache_dir: Path) -> ArtifactStore:
    return ArtifactStore(StorageSettings(cache_dir=cache_dir, progress=False, backoff_base_s=0.001))


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_local_artifact(form: str, tmp_path: Path, store: ArtifactStore) -> None:
    path = write(tmp_path / "src dir" / "model.tar.gz", model_tarball())
    url = str(path) if form == "path" else path.as_uri()
    model = store.materialize(url, "featurizer")
    assert (model / "model.pth").read_bytes() == MODEL_FILES["model.pth"]
    assert store.materialize(url, "featurizer") == model
    assert store.stats().hits == 1 and store.stats().misses == 1


def test_rewritten_local_file_is_fetched_again(tmp_path: Path, store: ArtifactStore) -> None:
    path = write(tmp_path / "model.tar.gz", model_tarball())
    store.materialize(str(path), "m")
    write(tmp_path / "model.tar.gz.new", model_tarball(version=b"2")).replace(path)
    model = store.materialize(str(path), "m")
    assert (model / "VERSION").read_bytes() == b"2"


def test_missing_local_file(tmp_path: Path, store: ArtifactStore, cache_dir: Path) -> None:
    url = (tmp_path / "nope.tar.gz").as_uri()
    with pytest.raises(ArtifactError, match="No such file or directory") as caught:
        store.materialize(url, "m")
    assert caught.value.permanent and leftovers(cache_dir, "m") == []


class CountingHandler(SimpleHTTPRequestHandler):
    gets = 0

    def do_GET(self) -> None:
        type(self).gets += 1
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    CountingHandler.gets = 0
    handler = functools.partial(CountingHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_artifact(http_root: tuple[str, Path], cache_dir: Path) -> None:
    base, root = http_root
    write(root / "model.tar.gz", model_tarball())
    url = f"{base}/model.tar.gz?X-Amz-Signature=abc"
    model = ArtifactStore(StorageSettings(cache_dir=cache_dir, progress=False)).materialize(url, "h")
    assert (model / "code/inference.py").read_bytes() == MODEL_FILES["code/inference.py"]
    # A restart with a fresh signature: Last-Modified + size still name the bytes.
    again = ArtifactStore(StorageSettings(cache_dir=cache_dir, progress=False))
    again.materialize(f"{base}/model.tar.gz?X-Amz-Signature=def", "h")
    assert CountingHandler.gets == 1 and again.stats().hits == 1


def test_http_not_found(http_root: tuple[str, Path], store: ArtifactStore, cache_dir: Path) -> None:
    url = f"{http_root[0]}/missing.tar.gz"
    with pytest.raises(ArtifactError, match="HTTP 404") as caught:
        store.materialize(url, "h")
    assert caught.value.permanent and leftovers(cache_dir, "h") == []


def test_unsupported_scheme(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactError, match="unsupported URL scheme 'ftp'"):
        store.fetch("ftp://example.com/model.tar.gz")


class FlakyHandler(CountingHandler):
    """Answers 503 to the first two GETs, like an overloaded origin."""

    def do_GET(self) -> None:
        type(self).gets += 1
        if type(self).gets <= 2:
            self.send_error(503, "Slow Down")
            return
        SimpleHTTPRequestHandler.do_GET(self)


def test_http_5xx_is_retried(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "www"
    write(root / "model.tar.gz", model_tarball())
    FlakyHandler.gets = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(FlakyHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/model.tar.gz"
        settings = StorageSettings(cache_dir=cache_dir, progress=False, backoff_base_s=0.001)
        assert (ArtifactStore(settings).materialize(url, "h") / "VERSION").is_file()
        assert FlakyHandler.gets == 3
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_progress_reporting(tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "model.tar.gz", model_tarball())
    caplog.set_level("INFO", logger="runtime.storage")
    ArtifactStore(StorageSettings(cache_dir=cache_dir / "a", progress=False)).fetch(str(path))
    assert any(r.message.startswith(f"fetched {path}: ") for r in caplog.records)
    ArtifactStore(StorageSettings(cache_dir=cache_dir / "b", progress=True)).fetch(str(path))
