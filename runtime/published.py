"""Published state: one value one process writes and others read, such as the routing table and the stats.

In one process the reader holds the very object the writer set. Across processes (gunicorn workers) the
writer replaces a JSON file atomically and each reader re-reads it when it changed, looking at most once
per `max_stale_s`: a publication is seen within that bound.

One behaviour for a file that is missing or does not decode (not written yet, removed at shutdown, a
stray edit): it is not a publication. The reader keeps the last value it had, and looks again on its
next check; before any value, `latest()` is None and `get()` raises NothingPublished. The writer never
leaves half a file where a reader looks (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar


class Document(Protocol):
    def to_json(self) -> str: ...


T = TypeVar("T", bound=Document)
MAX_STALE_S = 0.05  # a stat per request is cheap, but not free; 50 ms staleness is harmless


class NothingPublished(LookupError):
    """get() before the writer's first publication."""


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace `path` so that a reader sees the old file or the new one, never a part; `mode` from creation on."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode passes through the umask; secrets must not
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
        tmp.replace(path)
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


class Published(Generic[T]):
    """Holder (`Published(value)`), file writer (`writing`) or file follower (`following`); one interface."""

    def __init__(self, value: T | None = None) -> None:
        self._value = value
        self._path: Path | None = None
        self._decode: Callable[[str], T] | None = None
        self._mode = 0o644
        self.max_stale_s = MAX_STALE_S
        self._seen: tuple[int, int] | None = None  # (inode, mtime) of the file last read
        self._checked = float("-inf")

    @classmethod
    def writing(cls, path: Path, mode: int = 0o644) -> Published[T]:
        """In the writer's process: set() holds the value and replaces the file."""
        out: Published[T] = cls()
        out._path, out._mode = path, mode
        return out

    @classmethod
    def following(cls, path: Path, decode: Callable[[str], T], max_stale_s: float = MAX_STALE_S) -> Published[T]:
        """In a reader's process: get() returns what the file last held."""
        out: Published[T] = cls()
        out._path, out._decode, out.max_stale_s = path, decode, max_stale_s
        return out

    @property
    def path(self) -> Path | None:
        return self._path

    def set(self, value: T) -> None:
        if self._decode is not None:
            raise TypeError(f"{self._path} is followed here, not written")
        if self._path is not None:
            write_atomic(self._path, value.to_json(), self._mode)
        self._value = value

    def latest(self) -> T | None:
        """The current value, or None before the first publication."""
        if self._decode is not None:
            self._refresh(self._decode)
        return self._value

    def get(self) -> T:
        value = self.latest()
        if value is None:
            raise NothingPublished(f"nothing published yet{f' in {self._path}' if self._path else ''}")
        return value

    def _refresh(self, decode: Callable[[str], T]) -> None:
        now = time.monotonic()
        if now - self._checked < self.max_stale_s:
            return
        self._checked = now
        assert self._path is not None
        try:
            st = self._path.stat()
            # The inode as well as the time: every publication is a new file, and two within one clock tick
            # of the file system would share an mtime.
            seen = (st.st_ino, st.st_mtime_ns)
            if seen != self._seen:
                self._value, self._seen = decode(self._path.read_text(encoding="utf-8")), seen
        except (OSError, ValueError, TypeError, KeyError):
            pass  # not a publication: keep the last value (see the module's docstring)
