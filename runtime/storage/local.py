"""file:// URLs and plain paths: a fast-path identity from stat, content copied and hashed once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from runtime.storage.settings import ArtifactError
from runtime.storage.source import Identity, copy_hashing


def local_path(url: str) -> Path:
    """The filesystem path a file:// URL or plain path names."""
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ArtifactError(url, f"file URL names a remote host {parts.netloc!r}", permanent=True)
        return Path(unquote(parts.path))
    return Path(url)


class LocalSource:
    """A tarball on a local or mounted filesystem."""

    def __init__(self, url: str) -> None:
        self.url = url

    def identify(self) -> Identity:
        path = local_path(self.url)
        try:
            st = path.stat()
        except OSError as exc:
            raise ArtifactError(self.url, f"{exc.strerror or exc}: {path}", permanent=True) from exc
        if not path.is_file():
            raise ArtifactError(self.url, f"not a regular file: {path}", permanent=True)
        # (device, inode, size, mtime) changes whenever the file is replaced or rewritten in place,
        # so a restart can trust the cached copy without hashing gigabytes again.
        key = f"file dev={st.st_dev} ino={st.st_ino} size={st.st_size} mtime_ns={st.st_mtime_ns}"
        return Identity(key=f"{key} path={path.absolute()}", size=st.st_size)

    def download(self, identity: Identity, out: BinaryIO, progress: Callable[[int], None]) -> str | None:
        path = local_path(self.url)
        try:
            with path.open("rb") as src:
                return copy_hashing(src, out, progress)
        except OSError as exc:
            raise ArtifactError(self.url, f"{exc.strerror or exc}: {path}", permanent=True) from exc
