"""What this host, or the cgroup coserve runs in, holds: the capacity that admission counts against."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]

from .place import real_v2_path
from .procfs import cgroup_mounts, effective_v2_limit, keyed, own_cgroups, parse_limit, under

OWN_MEMORY = "the memory limit of coserve's own cgroup"
OWN_CPU = "the CPU quota of coserve's own cgroup"


def memory_capacity() -> tuple[int, str]:
    """(bytes, where from): host memory, or coserve's own cgroup limit where that is lower."""
    total = int(psutil.virtual_memory().total)
    own = own_memory_limit()
    return (own, OWN_MEMORY) if own is not None and own < total else (total, "host memory")


def cpu_capacity() -> tuple[float, str]:
    """(cores, where from): the CPUs this process may run on, or its cgroup's CPU quota where lower."""
    cores = float(len(os.sched_getaffinity(0)))
    own = own_cpu_limit()
    return (own, OWN_CPU) if own is not None and own < cores else (cores, "host CPUs")


def own_memory_limit() -> int | None:
    """The effective memory limit of the cgroup this process is in; None if there is none."""
    own, mounts = own_cgroups(), cgroup_mounts()
    if "memory" in own and "memory" in mounts.v1:
        stat = under(mounts.v1["memory"], own["memory"]) / "memory.stat"
        try:
            return parse_limit(str(keyed(stat.read_text())["hierarchical_memory_limit"]))
        except (OSError, KeyError):
            return None
    for mount in mounts.v2:
        limit = effective_v2_limit(under(mount, real_v2_path(mount, own.get("", "/"))), mount)
        if limit is not None:
            return limit
    return None


def own_cpu_limit() -> float | None:
    """The lowest CPU quota, in cores, from this process's cgroup up to its hierarchy's root; None if none."""
    own, mounts = own_cgroups(), cgroup_mounts()
    if "cpu" in own and "cpu" in mounts.v1:
        return _lowest(mounts.v1["cpu"], own["cpu"], _v1_quota)
    for mount in mounts.v2:
        found = _lowest(mount, real_v2_path(mount, own.get("", "/")), _v2_quota)
        if found is not None:
            return found
    return None


def _lowest(mount: Path, path: str, quota: Callable[[Path], float | None]) -> float | None:
    """Ancestors cap their children, so the tightest quota on the way up is the one that holds."""
    start = under(mount, path)
    found = []
    for cgroup in [start, *start.parents]:
        if cgroup != mount and not cgroup.is_relative_to(mount):
            break
        with contextlib.suppress(OSError, ValueError):
            cores = quota(cgroup)
            if cores is not None:
                found.append(cores)
    return min(found) if found else None


def _v1_quota(cgroup: Path) -> float | None:
    quota = int((cgroup / "cpu.cfs_quota_us").read_text())
    return None if quota < 0 else quota / int((cgroup / "cpu.cfs_period_us").read_text())


def _v2_quota(cgroup: Path) -> float | None:
    quota, _, period = (cgroup / "cpu.max").read_text().partition(" ")
    return None if quota == "max" else int(quota) / int(period)
