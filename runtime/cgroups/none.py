"""No cgroups (an unprivileged host): nothing is limited; stats come from the process tree.

The supervisor spawns every container with `start_new_session=True` and tells the cgroup the pid
through `attach()`; a container's processes are then that pid's descendants plus anything still in
its session (a daemon that double-forked leaves the tree but keeps the session).
"""

from __future__ import annotations

import contextlib
import os

import psutil  # type: ignore[import-untyped, unused-ignore]

from .api import CgroupLimits, Stats, check_name
from .tree import join_argv, kill_until_empty

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ProcessLookupError)


class NoneCgroup:
    def __init__(self, name: str) -> None:
        self.name = name
        self.root_pid: int | None = None
        self.oom_score_adj: int | None = None

    def wrap(self, argv: list[str]) -> list[str]:
        # Without cgroups the OOM order is all that still separates the containers under pressure.
        return list(argv) if self.oom_score_adj is None else join_argv([], argv, self.oom_score_adj)

    def attach(self, pid: int) -> None:
        self.root_pid = pid

    def _processes(self) -> list[psutil.Process]:
        if self.root_pid is None:
            return []
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(*_GONE):
            root = psutil.Process(self.root_pid)
            found = {p.pid: p for p in [root, *root.children(recursive=True)]}
        for proc in psutil.process_iter():
            with contextlib.suppress(*_GONE):
                if proc.pid not in found and os.getsid(proc.pid) == self.root_pid:
                    found[proc.pid] = proc
        return [p for p in found.values() if _alive(p)]

    def pids(self) -> list[int]:
        return sorted(p.pid for p in self._processes())

    def stats(self) -> Stats:
        memory, cpu_s, count = 0, 0.0, 0
        for proc in self._processes():
            with contextlib.suppress(*_GONE):
                times = proc.cpu_times()
                # children_* holds the reaped children, which no longer show up in the tree.
                cpu_s += times.user + times.system + times.children_user + times.children_system
                memory += proc.memory_info().rss
                count += 1
        return Stats(memory, None, None, round(cpu_s * 1e9), 0, count)

    def kill(self) -> None:
        kill_until_empty(self.pids, f"container {self.name}")

    def remove(self) -> None:
        self.kill()


def _alive(proc: psutil.Process) -> bool:
    # A killed process lingers as a zombie until the supervisor reaps it; cgroups do not list those.
    with contextlib.suppress(*_GONE):
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    return False


class NoneBackend:
    kind = "none"

    def __init__(self) -> None:
        self._made: dict[str, NoneCgroup] = {}

    has_cpuset = False

    def start(self) -> None:
        """Nothing to prepare."""

    def create(self, name: str, limits: CgroupLimits) -> NoneCgroup:
        check_name("cgroup name", name)
        cgroup = self._made.setdefault(name, NoneCgroup(name))
        cgroup.oom_score_adj = limits.oom_score_adj
        return cgroup

    def cleanup_stale(self) -> list[str]:
        """Without cgroups nothing marks a dead run's processes as ours; leave them alone."""
        return []

    def close(self) -> None:
        for cgroup in self._made.values():
            cgroup.remove()
        self._made.clear()
