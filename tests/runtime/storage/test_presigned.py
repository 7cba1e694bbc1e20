"""Presigned https:// artifacts: each presign changes the query string, not the bytes; a restart with
a fresh link must hit the cache when the object is unchanged, and fetch again when it changed."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from runtime.storage import ArtifactStore, StorageSettings

from .archives import model_tarball

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools


def store(cache_dir: Path) -> ArtifactStore:
    """A new store on the shared cache: a restart of coserve, as far as the cache can tell."""
    return ArtifactStore(StorageSettings(cache_dir=cache_dir, progress=False, backoff_base_s=0.001))


def presign(s3: S3Endpoint, bucket: str, key: str, expires: int) -> str:
    client = s3.client()
    try:
        return str(client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                  ExpiresIn=expires))  # fmt: skip
    finally:
        client.close()


def put(s3: S3Endpoint, bucket: str, key: str, body: bytes) -> None:
    client = s3.client()
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        client.close()


def test_a_fresh_presign_of_the_same_object_hits_the_cache(s3: S3Endpoint, bucket: str, cache_dir: Path) -> None:
    put(s3, bucket, "model.tar.gz", model_tarball())
    first, second = presign(s3, bucket, "model.tar.gz", 600), presign(s3, bucket, "model.tar.gz", 700)
    assert first != second, "two presigns, two query strings"
    model = store(cache_dir).materialize(first, "p")
    again = store(cache_dir)
    assert again.materialize(second, "p") == model
    assert (again.stats().hits, again.stats().misses, again.stats().bytes_fetched) == (1, 0, 0)


def test_a_replaced_object_behind_a_fresh_presign_is_fetched_again(
    s3: S3Endpoint, bucket: str, cache_dir: Path
) -> None:
    put(s3, bucket, "model.tar.gz", model_tarball())
    store(cache_dir).materialize(presign(s3, bucket, "model.tar.gz", 600), "p")
    put(s3, bucket, "model.tar.gz", model_tarball(version=b"2"))
    again = store(cache_dir)
    model = again.materialize(presign(s3, bucket, "model.tar.gz", 700), "p")
    assert (model / "VERSION").read_bytes() == b"2"
    assert (again.stats().hits, again.stats().misses) == (0, 1)


class NoHeadHandler(SimpleHTTPRequestHandler):
    """An origin that signs GET only, as a presigned link is: HEAD is 403; GETs are counted by kind."""

    ranged = full = 0

    def do_HEAD(self) -> None:
        self.send_error(403, "SignatureDoesNotMatch")

    def do_GET(self) -> None:
        if self.headers.get("Range"):
            type(self).ranged += 1
            self._ranged()
            return
        type(self).full += 1
        super().do_GET()

    def _ranged(self) -> None:
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        self.send_response(206)
        self.send_header("Content-Range", f"bytes 0-0/{len(data)}")
        self.send_header("Content-Length", "1")
        self.send_header("ETag", f'"{path.stat().st_mtime_ns:x}-{len(data):x}"')
        self.end_headers()
        self.wfile.write(data[:1])

    def end_headers(self) -> None:
        if self.command == "GET" and not self.headers.get("Range"):
            path = Path(self.translate_path(self.path))
            if path.is_file():
                self.send_header("ETag", f'"{path.stat().st_mtime_ns:x}-{path.stat().st_size:x}"')
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def no_head(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    NoHeadHandler.ranged = NoHeadHandler.full = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(NoHeadHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_origin_that_refuses_head_is_asked_for_one_byte(no_head: tuple[str, Path], cache_dir: Path) -> None:
    base, root = no_head
    (root / "model.tar.gz").write_bytes(model_tarball())
    store(cache_dir).materialize(f"{base}/model.tar.gz?X-Amz-Signature=one", "h")
    again = store(cache_dir)
    again.materialize(f"{base}/model.tar.gz?X-Amz-Signature=two", "h")
    assert again.stats().hits == 1
    assert (NoHeadHandler.full, NoHeadHandler.ranged) == (1, 2), "one download, one 1-byte probe per start"
