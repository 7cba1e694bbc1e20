"""Uncompressed S3 model data (prefix.py and the store): the layout, the cache, and every refusal."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.cli.localstore import S3Endpoint
from runtime.storage import ArtifactError, ArtifactStore
from runtime.storage.extract import ArchiveError, UnpackLimits
from runtime.storage.prefix import Entry, check_entries, fill_tree
from tests.runtime.storage.conftest import GetCounter, leftovers

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools

LIMITS = UnpackLimits(max_bytes=1000, max_files=10)


def entries(*paths: str, size: int = 1) -> list[Entry]:
    return [Entry(f"p/{path}", path, size) for path in paths]


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["a/../../etc/passwd"], "unsafe path part '..'"),
        (["a/./b"], "unsafe path part '.'"),
        (["a//b"], "unsafe path part ''"),
        (["dir/"], "names a folder"),
        ([""], "names a folder"),
        (["x" * 256], "over 255 bytes"),
        (["a\0b"], "NUL"),
        (["weights", "weights/part1"], "'weights' is both a file and a directory"),
    ],
)
def test_unsafe_keys_refuse_the_whole_prefix(paths: list[str], expected: str) -> None:
    with pytest.raises(ArchiveError, match=None) as info:
        check_entries(entries(*paths), LIMITS)
    assert expected in str(info.value)


def test_limits_are_checked_before_any_download() -> None:
    with pytest.raises(ArchiveError, match="11 objects, more than 10"):
        check_entries(entries(*(f"f{i}" for i in range(11))), LIMITS)
    with pytest.raises(ArchiveError, match="1002 bytes in all, more than 1000"):
        check_entries(entries("a", "b", size=501), LIMITS)
    check_entries(entries("a/b/c", "a/d", "e"), LIMITS)  # nested paths that clash with nothing


def put(s3: S3Endpoint, bucket: str, objects: dict[str, bytes]) -> None:
    client = s3.client()
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    client.close()


def test_a_prefix_is_laid_out_verified_and_cached(
    s3: S3Endpoint, bucket: str, make_store: Callable[..., ArtifactStore], gets: GetCounter
) -> None:
    big = os.urandom(20 << 20)  # over one 16 MiB part: ranged GETs in parallel
    put(s3, bucket, {"m/a.txt": b"A", "m/sub/b.txt": b"B", "m/big.bin": big, "m/sub/same.txt": b"A"})
    store = make_store()
    model = store.materialize(f"s3://{bucket}/m/", "ep--x", "prefix")
    assert (model / "a.txt").read_bytes() == b"A" and (model / "sub" / "b.txt").read_bytes() == b"B"
    assert (model / "big.bin").read_bytes() == big
    assert (model / "sub" / "same.txt").stat().st_ino == (model / "a.txt").stat().st_ino, "one blob per content"
    assert (model / "a.txt").stat().st_mode & 0o222 == 0, "read-only"
    fetched = gets.count
    assert fetched >= 4  # big.bin alone takes two ranged parts
    again = make_store().materialize(f"s3://{bucket}/m/", "ep--y", "prefix")  # a restart, another container
    assert gets.count == fetched, "nothing downloaded again"
    assert (again / "big.bin").stat().st_ino == (model / "big.bin").stat().st_ino


def test_one_uncompressed_object_takes_its_key_s_last_part_as_name(
    s3: S3Endpoint, bucket: str, make_store: Callable[..., ArtifactStore]
) -> None:
    put(s3, bucket, {"deep/path/weights.safetensors": b"w"})
    model = make_store().materialize(f"s3://{bucket}/deep/path/weights.safetensors", "ep--o", "object")
    assert [p.name for p in model.iterdir()] == ["weights.safetensors"]


def test_over_the_limits_or_empty_fails_permanently_and_leaves_nothing(
    s3: S3Endpoint, bucket: str, make_store: Callable[..., ArtifactStore], cache_dir: Path
) -> None:
    put(s3, bucket, {f"many/f{i}": b"x" for i in range(3)})
    with pytest.raises(ArtifactError) as info:
        make_store(max_files=2).materialize(f"s3://{bucket}/many/", "ep--many", "prefix")
    assert info.value.permanent and "3 objects, more than 2" in str(info.value)
    assert leftovers(cache_dir, "ep--many") == []
    with pytest.raises(ArtifactError, match="no objects under this prefix") as empty:
        make_store().materialize(f"s3://{bucket}/nothing/", "ep--none", "prefix")
    assert empty.value.permanent


@settings(max_examples=300)
@given(st.lists(st.text(alphabet="ab./\0", min_size=0, max_size=12), min_size=1, max_size=6, unique=True))
def test_any_accepted_set_of_keys_lays_out_inside_the_tree(paths: list[str]) -> None:
    found = entries(*paths)
    try:
        check_entries(found, UnpackLimits(max_bytes=10**6, max_files=100))
    except ArchiveError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        blob = root / "blob"
        blob.write_bytes(b"x")
        dest = root / "tree"
        dest.mkdir()
        fill_tree(dest, found, [blob] * len(found))
        laid = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        assert laid == sorted(paths), "every key at its own path, nothing else"
        assert all(p.resolve().is_relative_to(dest.resolve()) for p in dest.rglob("*"))
