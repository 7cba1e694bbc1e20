"""cgroup v1: one directory per hierarchy, under the cgroup coserve itself is in.

Limits go through cgroupspy's controllers, pointed straight at our directories: building a
cgroupspy `Tree()` without named hierarchies walks every cgroup on the host. cgroupspy has no pids
controller, so `pids.max` is a plain file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from cgroupspy.controllers import CpuAcctController, CpuController, MemoryController

from .api import CgroupLimits, Stats, check_name
from .cpu import PERIOD_US, format_cpus, quota_us, shares
from .procfs import keyed, parse_limit, under
from .tree import join_argv, kill_all, read_pids, remove_tree, run_marker, stale_dirs
from .v1oom import V1OomCount

_log = logging.getLogger("runtime.cgroups")

REQUIRED = ("memory", "cpu", "cpuacct")
OPTIONAL = ("pids",)


class _Dir:
    """The one attribute a cgroupspy controller reads from its node."""

    def __init__(self, path: Path) -> None:
        self.full_path = os.fsencode(path)


class V1Cgroup:
    def __init__(self, name: str, dirs: dict[str, Path]) -> None:
        self.name = name
        self.dirs = dirs
        self.oom_score_adj: int | None = None
        # Kills in runc's child cgroup are counted nowhere that outlives it: see v1oom.
        self.oom = V1OomCount(dirs["memory"])

    def _unique(self) -> list[Path]:
        # cpu and cpuacct share one directory where they are mounted together.
        return list(dict.fromkeys(self.dirs.values()))

    def _memory(self) -> Any:
        return MemoryController(_Dir(self.dirs["memory"]))

    def apply(self, limits: CgroupLimits) -> None:
        memory = self._memory()
        memsw = (self.dirs["memory"] / "memory.memsw.limit_in_bytes").exists()
        if memsw:  # lift it first: memsw may never be below the memory limit
            memory.memsw_limit_in_bytes = None
        memory.limit_in_bytes = limits.memory_bytes
        if memsw and limits.memory_bytes is not None:
            memory.memsw_limit_in_bytes = limits.memory_bytes
        # Host-wide pressure reclaims from cgroups above their soft limit first, down to it.
        memory.soft_limit_in_bytes = limits.memory_request_bytes
        self.oom_score_adj = limits.oom_score_adj
        cpu = CpuController(_Dir(self.dirs["cpu"]))
        cpu.cfs_period_us = PERIOD_US
        cpu.cfs_quota_us = quota_us(limits.cpu_mode, limits.cpus)
        cpu.shares = shares(limits.cpu_mode, limits.cpus, limits.cpu_weight)
        if limits.cpuset is not None:  # create() made the cpuset directory for it
            (self.dirs["cpuset"] / "cpuset.cpus").write_text(format_cpus(limits.cpuset))
        if "pids" in self.dirs:
            (self.dirs["pids"] / "pids.max").write_text(str(limits.pids or "max"))
        elif limits.pids is not None:
            _log.warning("cgroup %s: no pids hierarchy, pids=%s not enforced", self.name, limits.pids)

    def wrap(self, argv: list[str]) -> list[str]:
        return join_argv([d / "cgroup.procs" for d in self._unique()], argv, self.oom_score_adj)

    def attach(self, pid: int) -> None:
        """Nothing to do: the wrapper put the process in place."""

    def pids(self) -> list[int]:
        return sorted(read_pids(self.dirs["memory"]))

    def stats(self) -> Stats:
        memory = self._memory()
        return Stats(
            memory_bytes=memory.usage_in_bytes,
            memory_peak_bytes=memory.max_usage_in_bytes,
            memory_limit_bytes=parse_limit(str(memory.stat["hierarchical_memory_limit"])),
            cpu_usage_ns=CpuAcctController(_Dir(self.dirs["cpuacct"])).usage,
            oom_kills=self.oom.total(),
            pids=len(self.pids()),
            **self._throttling(),
        )

    def _throttling(self) -> dict[str, int]:
        stat = keyed((self.dirs["cpu"] / "cpu.stat").read_text())
        return {"cpu_throttled_periods": stat.get("nr_throttled", 0), "cpu_throttled_ns": stat.get("throttled_time", 0)}

    def kill(self) -> None:
        for path in self._unique():
            kill_all(path)

    def remove(self) -> None:
        self.oom.close()
        for path in self._unique():
            remove_tree(path)


class V1Backend:
    kind = "v1"

    def __init__(self, mounts: dict[str, Path], own: dict[str, str], run_root: str) -> None:
        self.mounts = mounts
        self.own = own
        self.run_root = run_root
        self.marker = ""
        self._made: dict[str, V1Cgroup] = {}

    def _parents(self) -> dict[str, Path]:
        used = [c for c in (*REQUIRED, *OPTIONAL) if c in self.mounts and c in self.own]
        return {c: under(self.mounts[c], self.own[c]) for c in used}

    def start(self) -> None:
        self.marker = run_marker(self.run_root)
        for path in dict.fromkeys(self._parents().values()):
            (path / self.marker).mkdir(exist_ok=True)
        run = MemoryController(_Dir(self._parents()["memory"] / self.marker))
        if not run.use_hierarchy:
            # Only accounting depends on it (the run directory's usage adds up its containers);
            # each container's own limit holds either way.
            with contextlib.suppress(OSError):
                run.use_hierarchy = True

    @property
    def has_cpuset(self) -> bool:
        return "cpuset" in self.mounts and "cpuset" in self.own

    def _cpuset_parent(self) -> Path | None:
        return under(self.mounts["cpuset"], self.own["cpuset"]) if self.has_cpuset else None

    def create(self, name: str, limits: CgroupLimits) -> V1Cgroup:
        check_name("cgroup name", name)
        dirs = {c: parent / self.marker / name for c, parent in self._parents().items()}
        for path in dirs.values():
            path.mkdir(exist_ok=True)
        if limits.cpuset is not None:  # only then: the cpuset hierarchy stays untouched otherwise
            dirs["cpuset"] = self._cpuset_dir(name)
        if name in self._made:  # reused: its earlier object's eventfd goes
            self._made[name].oom.close()
        cgroup = self._made[name] = V1Cgroup(name, dirs)
        cgroup.apply(limits)
        return cgroup

    def _cpuset_dir(self, name: str) -> Path:
        """A child in the cpuset hierarchy, given its parent's CPUs and memory nodes (it starts empty)."""
        parent = self._cpuset_parent()
        if parent is None:
            raise OSError(f"cgroup {name}: no cpuset hierarchy is mounted for coserve, so CpuMode: pinned cannot hold")
        for path in (parent / self.marker, parent / self.marker / name):
            path.mkdir(exist_ok=True)
            for key in ("cpuset.cpus", "cpuset.mems"):
                if not (path / key).read_text().strip():
                    (path / key).write_text((path.parent / key).read_text().strip())
        return parent / self.marker / name

    def cleanup_stale(self) -> list[str]:
        removed: dict[str, None] = {}
        for parent in dict.fromkeys([*self._parents().values(), *filter(None, [self._cpuset_parent()])]):
            for path in stale_dirs(parent, self.run_root):
                remove_tree(path)
                removed[path.name] = None
        return list(removed)

    def close(self) -> None:
        for cgroup in self._made.values():
            cgroup.remove()
        self._made.clear()
        for parent in dict.fromkeys([*self._parents().values(), *filter(None, [self._cpuset_parent()])]):
            if (parent / self.marker).exists():
                remove_tree(parent / self.marker)
