"""cgroup v1: a container's OOM kills, those of processes in child cgroups (a podman image's) included.

v1 counts an OOM kill (`oom_kill` in `memory.oom_control`) only in the victim's own memory cgroup, never
in its ancestors. A plain process lives in the container's cgroup, so that count is exact for it; an image
run by runc lives in `<container>/libpod-<id>`, which podman removes when the image exits, count and all.
What this host's kernel (6.18) was measured to report for one kill at the container's limit:

- the victim's cgroup: `oom_kill` 1 (the child's, gone once podman removes the child);
- the container's cgroup: `oom_kill` 0, and one notification on an eventfd registered through
  `cgroup.event_control` for its `memory.oom_control`; its `failcnt` grows only where swap is not limited
  (with `memsw` limited, as coserve sets it, the memsw counter fails first, and it keeps no failcnt);
- but notifications are per OOM *event*, not per kill: several processes at the limit gave 7 and 19 for
  3 kills; and the kernel notifies the cgroup under OOM and every descendant of it, so a parent's limit
  notifies each container below it.

So the count is: the container's own `oom_kill`, plus the live child cgroups' (exact while they exist),
plus those of children that were seen and are gone, plus one for each read that finds an OOM at the
container's own limit that no visible count explains: the child whose process was killed is already gone,
perhaps unseen (an image killed while loading). An OOM is the container's own when its cgroup was notified
and its parent (the run directory) was not: a notification from higher up reaches both.
Notifications that trail a counted kill (other processes still at the limit while the victim exits) are
not counted when the previous read counted a kill. Left inexact, all rare: a read that falls between a
notification and its kill (microseconds) counts it twice; two kills in vanished children between two
reads count once, and none if a parent's OOM came between the same two reads.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from .procfs import keyed
from .tree import child_cgroups

_log = logging.getLogger("runtime.cgroups")


class V1OomCount:
    """Cumulative OOM kills of one container's memory cgroup and its descendants; `total()` is thread-safe."""

    def __init__(self, memory: Path) -> None:
        self.memory = memory
        self._lock = threading.Lock()
        # The parent is the run directory, which outlives every container of the run.
        self._from_above = _register(memory.parent)
        self._eventfd = _register(memory)
        self._local = _oom_kill(memory) or 0
        self._children: dict[Path, int] = {}
        self._gone = 0  # kills counted in children that no longer exist, and kills no visible count explains
        self._counted_last_time = False

    def total(self) -> int:
        with self._lock:
            # The container's, then the parent's: one from above reaches the parent first (the kernel walks down).
            notified, from_above = _drain(self._eventfd), _drain(self._from_above)  # both, every time
            own = notified and not from_above
            local = _oom_kill(self.memory) or 0
            children = {path: n for path in _descendants(self.memory) if (n := _oom_kill(path)) is not None}
            self._gone += sum(n for path, n in self._children.items() if path not in children)
            counted = local > self._local or any(n > self._children.get(path, 0) for path, n in children.items())
            if own and not counted and not self._counted_last_time:
                self._gone += 1
                counted = True
            self._local, self._children = local, children
            self._counted_last_time = counted
            return local + self._gone + sum(children.values())

    def close(self) -> None:
        """Closing the eventfd unregisters it (removing the cgroup signals it once: never read after)."""
        with self._lock:
            for eventfd in (self._eventfd, self._from_above):
                if eventfd is not None:
                    os.close(eventfd)
            self._eventfd = self._from_above = None


def _drain(eventfd: int | None) -> bool:
    """Whether it was signalled since the last drain (non-blocking; it is reset to zero)."""
    if eventfd is None:
        return False
    try:
        return os.eventfd_read(eventfd) > 0
    except BlockingIOError:
        return False


def _register(memory: Path) -> int | None:
    """An eventfd the kernel signals on each OOM of `memory` or an ancestor; None where it cannot be had."""
    eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        control = os.open(memory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        try:
            (memory / "cgroup.event_control").write_text(f"{eventfd} {control}")
        finally:
            os.close(control)  # the kernel keeps what it needs from it
    except OSError as exc:
        os.close(eventfd)
        _log.warning("cgroup %s: no OOM notifications (%s): OOM kills inside its image containers go uncounted",
                     memory, exc)  # fmt: skip
        return None
    return eventfd


def _oom_kill(memory: Path) -> int | None:
    """None once the cgroup is gone (a child removed between listing and reading it)."""
    try:
        return keyed((memory / "memory.oom_control").read_text()).get("oom_kill", 0)
    except FileNotFoundError:
        return None


def _descendants(memory: Path) -> list[Path]:
    try:
        children = child_cgroups(memory)
    except FileNotFoundError:
        return []
    return [path for child in children for path in (child, *_descendants(child))]
