"""What the router side tells the supervisor side about components, through files in the state directory.

Routers may be gunicorn workers, so the two sides share files rather than objects: `<name>.seen`, whose
modification time is a component's last request (touched at most once a second per router process), and
`<name>.wake`, created by a request that found the component scaled to zero by idleness. The supervisor side
stats the first on its tick and takes (removes) the second; concurrent requests create one file, so they share
one wake. Names are lower-cased, as SageMaker compares them.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

TOUCH_EVERY_S = 1.0


def container_signal(endpoint: str, hostname: str) -> str:
    """The signal name of a deployment-file container that idles (runtime.fleetidle): a component's name has no
    dot, so the two never meet."""
    return f"{endpoint}.{hostname}"


class Signals:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._touched: dict[str, float] = {}  # this router process's last touch per component

    def _path(self, name: str, kind: str) -> Path:
        return self.folder / f"{name.lower()}.{kind}"

    # The router's side.
    def seen(self, name: str, now: float | None = None) -> None:
        """A request for `name` arrived (cheap: one utime a second at most)."""
        now = time.monotonic() if now is None else now
        if now - self._touched.get(name, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
            return
        self._touched[name] = now
        with contextlib.suppress(OSError):
            self._path(name, "seen").touch()

    def wake(self, name: str) -> None:
        with contextlib.suppress(OSError):
            self._path(name, "wake").touch()

    # The supervisor's side.
    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def last_seen(self, name: str) -> float | None:
        """Wall-clock time of the last request, or None if none was seen."""
        try:
            return self._path(name, "seen").stat().st_mtime
        except OSError:
            return None

    def take_wake(self, name: str) -> bool:
        try:
            self._path(name, "wake").unlink()
        except FileNotFoundError:
            return False
        return True

    def forget(self, name: str) -> None:
        for kind in ("seen", "wake"):
            self._path(name, kind).unlink(missing_ok=True)
