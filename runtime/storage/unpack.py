"""Safe extraction of a gzip tarball, written against tarfile's member stream.

Checks, each refusing the whole archive: absolute names, `..` components, a member written through
a symlink, symlinks whose target leaves the tree (lexically at once, by realpath at the end),
hardlinks to anything but a regular file already extracted, device/fifo/sparse members, more than
`max_files` members, more than `max_bytes` of content, and extension headers (GNU long names, PAX)
over their own small bounds, before tarfile reads them into memory (headers.py). Sizes are counted on the decompressed
stream as it is read, not taken from headers. tarfile's `data_filter` runs as a second opinion.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from pathlib import Path
from typing import IO, cast

from runtime.storage.extract import ArchiveError, Extractor, UnpackLimits
from runtime.storage.headers import MAX_EXTENSION_BYTES, bounded_tarinfo
from runtime.storage.source import CHUNK, Readable

GZIP_MAGIC = b"\x1f\x8b"
__all__ = ["MAX_EXTENSION_BYTES", "unpack"]


class _Counted:
    """The decompressed stream, refusing to yield more than `limit` bytes (headers included)."""

    def __init__(self, raw: Readable, limit: int) -> None:
        self._raw, self._limit, self.read_bytes = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.read_bytes += len(data)
        if self.read_bytes > self._limit:
            raise ArchiveError(f"decompressed stream exceeds {self._limit} bytes")
        return data


def unpack(blob: Path, dest: Path, limits: UnpackLimits) -> tuple[int, int]:
    """Extract `blob` into the empty directory `dest`; returns (members, content bytes)."""
    with blob.open("rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            raise ArchiveError("not a gzip file")
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw) as gz:
            # Slack for tar headers and padding: a kilobyte and a half per member plus a megabyte.
            slack = limits.max_files * 1536 + CHUNK
            stream = _Counted(gz, limits.max_bytes + slack)
            counts = _extract(stream, dest, limits)
            _drain(stream)
            return counts


def _drain(stream: _Counted) -> None:
    """Read past the tar end marker to the gzip trailer, so a truncated or corrupt file whose
    members happened to be intact still fails its CRC and length check."""
    try:
        while stream.read(CHUNK):
            pass
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(f"corrupt gzip/tar stream: {exc}") from exc


def _extract(stream: _Counted, dest: Path, limits: UnpackLimits) -> tuple[int, int]:
    extractor: Extractor | None = None
    try:
        # Stream mode ("r|") only ever calls read(), which is all _Counted offers.
        with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r|", tarinfo=bounded_tarinfo()) as tar:
            extractor = Extractor(tar, dest, limits)
            return extractor.run()
    except tarfile.ReadError as exc:
        if extractor is None:  # the very first header was not a tar header
            raise ArchiveError(f"not a tar archive ({exc})") from exc
        raise ArchiveError(f"corrupt gzip/tar stream: {exc}") from exc
    except (gzip.BadGzipFile, zlib.error, EOFError, tarfile.TarError) as exc:
        raise ArchiveError(f"corrupt gzip/tar stream: {exc}") from exc
