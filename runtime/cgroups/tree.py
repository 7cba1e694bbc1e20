"""File-level chores both real backends share: run markers, joining, killing, removing."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shlex
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_log = logging.getLogger("runtime.cgroups")

KILL_TIMEOUT_S = 5.0
_POLL_S = 0.01
JOIN_FAILED_EXIT = 125
"""Exit status of a wrapper that could not join its cgroup (125, as `env` and docker use)."""


def run_marker(run_root: str, pid: int | None = None) -> str:
    """`<run_root>.<pid>.<start ticks>`: the start time guards against a recycled pid."""
    pid = os.getpid() if pid is None else pid
    return f"{run_root}.{pid}.{start_ticks(pid)}"


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time since boot); None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def is_stale(name: str, run_root: str) -> bool:
    """True for a run directory whose owning coserve process no longer exists."""
    match = re.fullmatch(re.escape(run_root) + r"\.(\d+)\.(\d+)", name)
    return match is not None and start_ticks(int(match[1])) != int(match[2])


def stale_dirs(parent: Path, run_root: str) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and is_stale(p.name, run_root))


def join_argv(procs_files: Sequence[Path], argv: list[str], oom_score_adj: int | None = None) -> list[str]:
    """A /bin/sh prologue that writes its own pid into each `cgroup.procs`, then execs `argv`.

    The shell is the process the supervisor spawned; `exec` keeps its pid, so the server runs in
    the cgroups from its first instruction and everything it forks is born there. `oom_score_adj`
    is set the same way, before the exec, so that every process of the container inherits it."""
    if not argv:
        raise ValueError("argv: must name a program to run")
    targets = " ".join(shlex.quote(str(p)) for p in procs_files)
    script = (
        f'for f in {targets}; do echo $$ > "$f" || '
        f'{{ echo "coserve: cannot join cgroup: $f" >&2; exit {JOIN_FAILED_EXIT}; }}; done; '
    )
    if oom_score_adj is not None:
        # Raising it needs no privilege (coserve's values are >= 0); should it fail all the same, the
        # container still starts and its log says why it may be killed in another order.
        script += (f"echo {int(oom_score_adj)} > /proc/$$/oom_score_adj || "
                   f'echo "coserve: cannot set oom_score_adj {int(oom_score_adj)}" >&2; ')  # fmt: skip
    return ["/bin/sh", "-c", script + 'exec "$@"', "coserve-cgroup", *argv]


def child_cgroups(cgroup: Path) -> list[Path]:
    """The cgroup's direct children. cgroupfs gives each entry's type with the listing (d_type), so this costs
    no stat per file, where pathlib's is_dir() stats each of the thirty-odd files of a v1 memory cgroup: the
    metrics sampler lists every container's twice (pids, OOM kills) on each supervise tick, on the front
    door's event loop (benchmarks/tick_cost.py: 582 -> 203 µs per container on the 2-core VM)."""
    with os.scandir(cgroup) as entries:
        return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]


def read_pids(cgroup: Path) -> list[int]:
    """Every process in the cgroup and its descendants: a container engine (podman with runc on v1) puts
    the container's processes in a child of the cgroup it was started in, and they are the container's too."""
    try:
        with open(cgroup / "cgroup.procs", "rb") as f:
            pids = [int(word) for word in f.read().split()]
        children = child_cgroups(cgroup)
    except OSError as exc:
        if gone(exc):
            return []
        raise
    return pids + [pid for child in children for pid in read_pids(child)]


def gone(exc: OSError) -> bool:
    """The cgroup was removed (by us, or by systemd once its unit emptied): ENOENT, or ENODEV mid-removal."""
    return exc.errno in (errno.ENOENT, errno.ENODEV)


def kill_all(cgroup: Path) -> bool:
    return kill_until_empty(lambda: read_pids(cgroup), str(cgroup))


def kill_until_empty(list_pids: Callable[[], list[int]], what: str, timeout: float = KILL_TIMEOUT_S) -> bool:
    """SIGKILL until nothing is listed; a loop because processes may fork meanwhile."""
    deadline = time.monotonic() + timeout
    while pids := list_pids():
        if time.monotonic() > deadline:
            _log.warning("%s still has processes %s after %.1fs of SIGKILL", what, pids, timeout)
            return False
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(_POLL_S)
    return True


def remove_tree(cgroup: Path, kill: Callable[[Path], bool] = kill_all) -> None:
    """Depth first, because a cgroup can be removed only once its children and processes are."""
    try:
        children = child_cgroups(cgroup)
    except OSError as exc:
        if gone(exc):
            return
        raise
    for child in children:
        remove_tree(child, kill)
    kill(cgroup)
    _rmdir(cgroup)


def _rmdir(path: Path, timeout: float = KILL_TIMEOUT_S) -> None:
    # Killed tasks leave the cgroup asynchronously, so rmdir may briefly answer EBUSY.
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except OSError as exc:
            if gone(exc):
                return
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(_POLL_S)
