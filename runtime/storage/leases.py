"""Which model directories are in use, across every process that shares the cache volume.

A process serving a container holds a shared flock on `leases/<model dir name>.lock` for as long as it
may run it; the kernel drops the lock when the process dies, so a crash never leaves a stale claim. A
prune asks with a non-blocking exclusive lock on a fresh open file, which any holder refuses.
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from typing import TextIO


class Leases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._held: dict[str, TextIO] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> None:
        """Claim the model dir `name` until close(); taking it again is a no-op."""
        with self._lock:
            if name in self._held:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            f = (self.root / f"{name}.lock").open("a")
            fcntl.flock(f, fcntl.LOCK_SH)
            self._held[name] = f

    def close(self) -> None:
        with self._lock:
            for f in self._held.values():
                f.close()  # closing the last descriptor drops the flock
            self._held.clear()


def in_use(root: Path, name: str) -> bool:
    """Whether any process (this one included) holds the lease on `name`."""
    path = root / f"{name}.lock"
    if not path.exists():
        return False
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
