"""What every fetcher offers the store: identify the bytes cheaply, then stream them into a file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

CHUNK = 1 << 20


@dataclass(frozen=True)
class Identity:
    """What a source says about its bytes before any are downloaded."""

    key: str | None
    """Names these exact bytes (S3 ETag + size, a file's inode + mtime + size); None: only the
    content's sha256, known after download, can name them."""
    size: int | None
    """Expected length; checked after download when known."""
    md5: str | None = None
    """Expected hex md5 when the source guarantees one (an S3 single-part, non-KMS ETag)."""


class Source(Protocol):
    """One artifact URL; implementations raise TransientError or ArtifactError, nothing else."""

    url: str

    def identify(self) -> Identity:
        """Ask the origin what the bytes are, without reading them."""
        ...

    def download(self, identity: Identity, out: BinaryIO, progress: Callable[[int], None]) -> str | None:
        """Write the bytes to `out`; return their sha256 hex when it was computed on the way."""
        ...


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def copy_hashing(src: Readable, out: BinaryIO, progress: Callable[[int], None]) -> str:
    """Copy a sequential stream and hash it in the same pass, so the cache needn't read it again."""
    digest = hashlib.sha256()
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        out.write(chunk)
        progress(len(chunk))
    return digest.hexdigest()


def file_digests(path: str, want_md5: bool) -> tuple[str, str | None]:
    """sha256 (and md5 if asked) of a file, in one read pass."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False) if want_md5 else None
    with open(path, "rb") as f:
        while chunk := f.read(4 * CHUNK):
            sha.update(chunk)
            if md5 is not None:
                md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest() if md5 is not None else None
