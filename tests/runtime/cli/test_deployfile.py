"""runtime.cli.deployfile: the deployment argument as a local file, from a path, S3 (SeaweedFS) or http(s)."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.deployfile import DeploymentFetchError, localize
from runtime.cli.localstore import S3Endpoint, S3Store

DOC = b"EndpointName: from-afar\nContainers: [{Image: process}]\n"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with S3Store() as store:
        yield store.start(tmp_path_factory.mktemp("seaweedfs"))


@pytest.fixture
def bucket(s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket holding deploy.yaml; boto3's standard chain points at the store (AWS_ENDPOINT_URL_S3)."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="team/deploy.yaml", Body=DOC)
    return name


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def only(workdir: Path) -> list[str]:
    """What workdir holds: a failed or finished fetch leaves no partial file behind."""
    return sorted(p.name for p in workdir.iterdir()) if workdir.exists() else []


def test_a_path_is_returned_as_is(tmp_path: Path) -> None:
    assert localize("conf/deploy.yaml", tmp_path / "w") == Path("conf/deploy.yaml")
    assert localize("/etc/coserve/deploy.yaml", tmp_path / "w") == Path("/etc/coserve/deploy.yaml")
    assert localize((tmp_path / "d.yaml").as_uri(), tmp_path / "w") == tmp_path / "d.yaml"
    assert only(tmp_path / "w") == []


def test_an_unknown_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeploymentFetchError, match=r"ftp://host/d.yaml: unsupported scheme ftp://"):
        localize("ftp://host/d.yaml", tmp_path)


@pytest.mark.integration
def test_s3_is_downloaded_with_the_standard_chain(bucket: str, tmp_path: Path) -> None:
    path = localize(f"s3://{bucket}/team/deploy.yaml", tmp_path / "w")
    assert path == tmp_path / "w" / "deploy.yaml"
    assert path.read_bytes() == DOC
    again = localize(f"s3://{bucket}/team/deploy.yaml", tmp_path / "w")  # replaced atomically, not appended
    assert again.read_bytes() == DOC and only(tmp_path / "w") == ["deploy.yaml"]


@pytest.mark.integration
def test_s3_missing_key_names_url_and_cause(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(DeploymentFetchError, match=rf"s3://{bucket}/nope.yaml: .*(404|NoSuchKey|Not Found)"):
        localize(f"s3://{bucket}/nope.yaml", tmp_path / "w")
    assert only(tmp_path / "w") == []


@pytest.mark.integration
def test_s3_bad_credentials_name_url_and_cause(bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(DeploymentFetchError, match=rf"s3://{bucket}/team/deploy.yaml: \S+") as caught:
        localize(f"s3://{bucket}/team/deploy.yaml", tmp_path / "w")
    assert "403" in str(caught.value) or "Signature" in str(caught.value) or "Access" in str(caught.value)
    assert only(tmp_path / "w") == []


def test_s3_url_without_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeploymentFetchError, match=r"s3://bucket-only: an S3 URL needs a bucket and a key"):
        localize("s3://bucket-only", tmp_path)


@pytest.mark.integration
def test_http_download(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "deploy.json").write_bytes(b'{"EndpointName": "x"}')
    path = localize(f"{url}/deploy.json?X-Amz-Signature=abc", tmp_path / "w")
    assert path.name == "deploy.json" and path.read_bytes() == b'{"EndpointName": "x"}'


@pytest.mark.integration
def test_http_error_names_url_without_its_signature(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_root
    with pytest.raises(DeploymentFetchError, match=r"/gone.yaml\?…: HTTP 404") as caught:
        localize(f"{url}/gone.yaml?X-Amz-Signature=secret", tmp_path / "w")
    assert "secret" not in str(caught.value)
    assert only(tmp_path / "w") == []


def test_unreachable_host_names_url_and_cause(tmp_path: Path) -> None:
    with pytest.raises(DeploymentFetchError, match=r"http://127.0.0.1:1/d.yaml: .*refused"):
        localize("http://127.0.0.1:1/d.yaml", tmp_path / "w")
    assert only(tmp_path / "w") == []
