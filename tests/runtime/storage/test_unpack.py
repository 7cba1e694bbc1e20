"""Hostile and malformed archives are refused whole, through a local path and through S3."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cli.localstore import S3Endpoint
from runtime.storage import ArtifactError, ArtifactStore, StorageSettings

from .archives import HOSTILE, model_tarball, oversize_tarball, write
from .conftest import leftovers

Factory = Callable[..., ArtifactStore]


def refused(store: ArtifactStore, url: str, cache_dir: Path) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        store.materialize(url, "victim")
    assert caught.value.permanent and caught.value.url == url
    assert str(caught.value).startswith(f"{url}: ")
    assert leftovers(cache_dir, "victim") == []
    return caught.value


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_from_a_path(case: str, tmp_path: Path, cache_dir: Path) -> None:
    data, expected = HOSTILE[case]
    url = str(write(tmp_path / "in" / f"{case}.tar.gz", data))
    store = ArtifactStore(StorageSettings(cache_dir=cache_dir, progress=False))
    assert expected in str(refused(store, url, cache_dir))
    assert not Path("/tmp/coserve-pwned").exists()


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_from_s3(case: str, s3: S3Endpoint, bucket: str, make_store: Factory, cache_dir: Path) -> None:
    data, expected = HOSTILE[case]
    s3.client().put_object(Bucket=bucket, Key=f"{case}.tar.gz", Body=data)
    url = f"s3://{bucket}/{case}.tar.gz"
    assert expected in str(refused(make_store(), url, cache_dir))


def test_oversize_archive_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    url = str(write(tmp_path / "big.tar.gz", oversize_tarball(files=8, each=4096)))
    settings = StorageSettings(cache_dir=cache_dir, progress=False, max_unpacked_bytes=20_000)
    error = refused(ArtifactStore(settings), url, cache_dir)
    assert "unpacked size exceeds 20000 bytes" in str(error)


def test_too_many_files_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    url = str(write(tmp_path / "many.tar.gz", oversize_tarball(files=12, each=10)))
    settings = StorageSettings(cache_dir=cache_dir, progress=False, max_files=10)
    assert "more than 10 members" in str(refused(ArtifactStore(settings), url, cache_dir))


def test_decompressed_stream_is_bounded(tmp_path: Path, cache_dir: Path) -> None:
    """Header-only bloat (pax headers each within their own bound, no file content) still hits the
    stream limit: 50 members of 60 KB headers pass the 1000 * 1.5 KiB + 1 MiB slack."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for i in range(50):
            info = tarfile.TarInfo(f"small{i}")
            info.pax_headers = {"comment": "x" * 60_000}
            tar.addfile(info, io.BytesIO(b""))
    url = str(write(tmp_path / "pax.tar.gz", buf.getvalue()))
    settings = StorageSettings(cache_dir=cache_dir, progress=False, max_unpacked_bytes=1000, max_files=1000)
    assert "decompressed stream exceeds" in str(refused(ArtifactStore(settings), url, cache_dir))


def test_previous_model_dir_survives_a_bad_update(tmp_path: Path, cache_dir: Path) -> None:
    good = str(write(tmp_path / "good.tar.gz", model_tarball()))
    store = ArtifactStore(StorageSettings(cache_dir=cache_dir, progress=False))
    model = store.materialize(good, "victim")
    bad = str(write(tmp_path / "bad.tar.gz", HOSTILE["dotdot"][0]))
    with pytest.raises(ArtifactError):
        store.materialize(bad, "victim")
    assert (model / "model.pth").is_file()
    assert not list(cache_dir.rglob(".tmp-*"))
