"""Download progress: one rich bar per artifact on a TTY, periodic log lines otherwise."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

log = logging.getLogger("runtime.storage")
LOG_EVERY_S = 5.0


class ProgressBoard:
    """Owns the single rich live display (rich allows one per console), shared by every artifact
    fetched concurrently; started with the first bar and stopped with the last."""

    def __init__(self, enabled: bool | None) -> None:
        self._enabled = enabled
        self._lock = threading.Lock()
        self._rich: Progress | None = None
        self._active = 0

    def _use_rich(self) -> bool:
        return sys.stderr.isatty() if self._enabled is None else self._enabled

    @contextlib.contextmanager
    def track(self, url: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yield a thread-safe callback taking the bytes just received."""
        if self._use_rich():
            with self._bar(url, total) as advance:
                yield advance
        else:
            with _log_lines(url, total) as advance:
                yield advance

    @contextlib.contextmanager
    def _bar(self, url: str, total: int | None) -> Iterator[Callable[[int], None]]:
        with self._lock:
            if self._rich is None:
                columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
                self._rich = Progress(*columns, console=Console(stderr=True))
                self._rich.start()
            rich, self._active = self._rich, self._active + 1
            task = rich.add_task(url, total=total)
        try:
            yield lambda n: rich.advance(task, n)
        finally:
            with self._lock:
                rich.remove_task(task)
                self._active -= 1
                if self._active == 0:
                    rich.stop()
                    self._rich = None


@contextlib.contextmanager
def _log_lines(url: str, total: int | None) -> Iterator[Callable[[int], None]]:
    lock = threading.Lock()
    start = last = time.monotonic()
    done = 0
    mb = f"{total / 1e6:.1f} MB" if total is not None else "unknown size"
    log.info("fetching %s (%s)", url, mb)

    def advance(n: int) -> None:
        nonlocal done, last
        with lock:
            done += n
            now = time.monotonic()
            if now - last < LOG_EVERY_S:
                return
            last = now
        share = f"{100 * done / total:.0f}%" if total else f"{done / 1e6:.1f} MB"
        log.info("fetching %s: %s at %.1f MB/s", url, share, done / 1e6 / (now - start))

    yield advance
    elapsed = max(time.monotonic() - start, 1e-9)
    log.info("fetched %s: %.1f MB in %.2fs (%.1f MB/s)", url, done / 1e6, elapsed, done / 1e6 / elapsed)
