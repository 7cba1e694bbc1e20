"""The content-addressed blob cache on the shared volume.

Layout under `<cache_dir>/artifacts`:
    blobs/sha256-<hex>.tar.gz   one file per distinct content, never modified after its rename
    refs/<h>.json               identity key (ETag+size, inode+mtime+size, ...) -> sha256 of the blob
    trees/<id>/                 a blob unpacked once (id = its sha256), or uncompressed S3 data laid out from
                                blobs (id = data-<manifest hash>); read-only, shared by containers
    index/<id>.json             the blobs a tree was made from; its mtime is the tree's last use (see budget.py)
    leases/<h>.lock             held (shared flock) by each process serving a model dir made from the cache
    locks/<h>.lock              flock files: one fetch or unpack per identity across threads and processes;
                                locks/cache.lock is held shared by every materialize, exclusively by a prune
Everything is written under a temporary name in the same directory, fsynced, then renamed, so a
crash leaves only `.tmp-*` names, which nothing ever reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.refs = root / "refs"
        self.trees = root / "trees"
        self.locks = root / "locks"
        self.index = root / "index"
        self.leases = root / "leases"

    def prepare(self) -> None:
        for path in (self.blobs, self.refs, self.trees, self.locks, self.index, self.leases):
            path.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def whole(self, exclusive: bool, wait: bool = True) -> Iterator[bool]:
        """The cache-wide lock: shared while materializing, exclusive while pruning. Yields False
        (holding nothing) when `wait` is off and the lock is busy."""
        self.prepare()
        with (self.locks / "cache.lock").open("a") as f:
            flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
            try:
                fcntl.flock(f, flags)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold an exclusive flock: each open() is its own lock owner, so threads exclude too."""
        with (self.locks / f"{_hash(name)}.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def blob(self, sha256: str) -> Path:
        return self.blobs / f"sha256-{sha256}.tar.gz"

    def lookup(self, key: str, size: int | None) -> str | None:
        """The sha256 a ref names, if its blob is still there with the expected size."""
        try:
            ref = json.loads((self.refs / f"{_hash(key)}.json").read_text())
            sha = str(ref["sha256"])
            actual = self.blob(sha).stat().st_size
        except (OSError, ValueError, KeyError):
            return None
        return sha if size is None or actual == size else None

    def remember(self, key: str, sha256: str, size: int) -> None:
        doc = json.dumps({"key": key, "sha256": sha256, "size": size}).encode()
        with self.temp_file(self.refs) as (tmp, f):
            f.write(doc)
            self.commit(tmp, f, self.refs / f"{_hash(key)}.json")

    @contextlib.contextmanager
    def temp_file(self, directory: Path | None = None) -> Iterator[tuple[Path, BinaryIO]]:
        """A temp file beside its final name; removed unless commit() renamed it."""
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=directory or self.blobs)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w+b") as f:
                yield tmp, f
        finally:
            tmp.unlink(missing_ok=True)

    def commit(self, tmp: Path, f: BinaryIO, final: Path) -> None:
        f.flush()
        os.fsync(f.fileno())
        tmp.chmod(0o444)
        tmp.replace(final)
        fsync_dir(final.parent)

    def evict(self, sha256: str) -> None:
        self.blob(sha256).unlink(missing_ok=True)
