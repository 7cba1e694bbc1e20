"""ArtifactStore against a real SeaweedFS: round trip, cache hits across restarts, S3 errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cli.localstore import S3Endpoint, free_ports
from runtime.storage import ArtifactError, ArtifactStore

from .archives import MODEL_FILES, model_tarball
from .conftest import GetCounter, leftovers

pytestmark = pytest.mark.integration
Factory = Callable[..., ArtifactStore]


def upload(s3: S3Endpoint, bucket: str, key: str, data: bytes) -> str:
    s3.client().put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def assert_read_only_model(model: Path) -> None:
    for name, data in MODEL_FILES.items():
        assert (model / name).read_bytes() == data
    assert (model / "latest.pth").readlink() == Path("model.pth")
    assert (model / "code/copy.py").read_bytes() == MODEL_FILES["code/inference.py"]
    assert (model / "bin/serve.sh").stat().st_mode & stat.S_IXUSR
    for path in [model, *model.rglob("*")]:
        if not path.is_symlink():
            assert path.stat().st_mode & 0o222 == 0, f"{path} is writable"


def test_round_trip(s3: S3Endpoint, bucket: str, make_store: Factory, cache_dir: Path) -> None:
    url = upload(s3, bucket, "pytorch/model.tar.gz", model_tarball())
    model = make_store().materialize(url, "pytorch-mnist")
    assert model == cache_dir / "models" / "pytorch-mnist"
    assert_read_only_model(model)
    assert not list(cache_dir.rglob(".tmp-*"))


def test_second_fetch_and_restart_hit_the_cache(
    s3: S3Endpoint, bucket: str, make_store: Factory, gets: GetCounter
) -> None:
    url = upload(s3, bucket, "model.tar.gz", model_tarball())
    store = make_store()
    first = store.materialize(url, "a")
    assert gets.count == 1
    assert store.materialize(url, "a") == first
    assert make_store().materialize(url, "b").is_dir()  # a restart, and a second container
    assert gets.count == 1
    assert store.stats().misses == 1 and store.stats().hits == 1


def test_replaced_object_is_fetched_again(s3: S3Endpoint, bucket: str, make_store: Factory) -> None:
    url = upload(s3, bucket, "model.tar.gz", model_tarball())
    before = make_store().fetch(url)
    upload(s3, bucket, "model.tar.gz", model_tarball(version=b"2"))  # new bytes: new ETag
    after = make_store().fetch(url)
    assert before != after and before.exists() and after.exists()


def test_two_threads_download_once(s3: S3Endpoint, bucket: str, make_store: Factory, gets: GetCounter) -> None:
    url = upload(s3, bucket, "model.tar.gz", model_tarball())
    store, results, barrier = make_store(), [], threading.Barrier(2)

    def run(name: str) -> None:
        barrier.wait()
        results.append(store.materialize(url, name))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and gets.count == 1
    assert store.stats().misses == 1 and store.stats().hits == 1


FETCH_IN_CHILD = """
import json, sys
from pathlib import Path
from runtime.storage import ArtifactStore, StorageSettings
store = ArtifactStore(StorageSettings(cache_dir=Path(sys.argv[1]), s3_addressing_style="path", progress=False))
store.materialize(sys.argv[2], sys.argv[3])
print(json.dumps(store.stats().__dict__))
"""


def test_two_processes_download_once(s3: S3Endpoint, bucket: str, cache_dir: Path) -> None:
    url = upload(s3, bucket, "big.tar.gz", model_tarball())
    env = {**os.environ, **s3.env()}
    argv = [sys.executable, "-c", FETCH_IN_CHILD, str(cache_dir), url]
    children = [subprocess.Popen([*argv, name], env=env, stdout=subprocess.PIPE) for name in "ab"]
    stats = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    assert all(child.returncode == 0 for child in children)
    assert sorted(s["misses"] for s in stats) == [0, 1]


def test_multipart_object_downloads_in_ranges(
    s3: S3Endpoint, bucket: str, make_store: Factory, gets: GetCounter, tmp_path: Path
) -> None:
    payload = os.urandom(40 << 20)
    s3.client().upload_file(_write(tmp_path / "big", payload), bucket, "big.bin")
    blob = make_store().fetch(f"s3://{bucket}/big.bin")
    assert blob.read_bytes() == payload
    assert gets.count == 3  # 16 MiB parts


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("s3://no-such-bucket-coserve/model.tar.gz", "NoSuchBucket"),
        ("s3://{bucket}/missing/model.tar.gz", "NoSuchKey"),
    ],
)
def test_missing_objects_fail_permanently(
    where: str, expected: str, bucket: str, make_store: Factory, cache_dir: Path
) -> None:
    url = where.format(bucket=bucket)
    with pytest.raises(ArtifactError) as caught:
        make_store().materialize(url, "m")
    assert caught.value.permanent and caught.value.url == url
    assert str(caught.value).startswith(f"{url}: {expected}: ")
    assert leftovers(cache_dir, "m") == []


def test_wrong_credentials_fail_permanently(s3: S3Endpoint, bucket: str, make_store: Factory, cache_dir: Path) -> None:
    url = upload(s3, bucket, "model.tar.gz", model_tarball())
    wrong = S3Endpoint(s3.endpoint_url, s3.access_key, "not-the-secret")
    with pytest.raises(ArtifactError) as caught:
        make_store(wrong).materialize(url, "m")
    assert caught.value.permanent
    assert str(caught.value).startswith(f"{url}: SignatureDoesNotMatch: ")
    assert leftovers(cache_dir, "m") == []


def test_store_down_retries_then_fails(make_store: Factory, cache_dir: Path) -> None:
    closed = S3Endpoint(f"http://127.0.0.1:{free_ports(1)[0]}", "k", "s")
    with pytest.raises(ArtifactError) as caught:
        make_store(closed, max_attempts=3).materialize("s3://models/model.tar.gz", "m")
    assert not caught.value.permanent
    assert "identify failed after 3 attempts" in str(caught.value)
    assert "Could not connect" in str(caught.value)
    assert leftovers(cache_dir, "m") == []
