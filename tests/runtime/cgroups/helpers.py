"""Polling, the v1 directories the tests inspect, and the backend this host is known to have."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cgroups.procfs import cgroup_mounts, own_cgroups, under

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.01)  # poll interval, bounded by the deadline


def v1_parents() -> list[Path]:
    """coserve's own directory in every v1 hierarchy the backend uses."""
    own, mounts = own_cgroups(), cgroup_mounts()
    return [under(mounts.v1[c], own[c]) for c in V1_CONTROLLERS if c in mounts.v1]


def leftovers(run_root: str) -> list[Path]:
    return [p for parent in v1_parents() for p in parent.glob(f"{run_root}*")]


def expected_backend() -> tuple[str | None, str]:
    """The cgroup backend this host has, found without coserve's detector, and how it was found.

    COSERVE_EXPECT_CGROUPS (v1, v2 or none) says it outright; otherwise /proc/self/mounts, read
    here on its own: root with memory, cpu and cpuacct v1 hierarchies and no cgroup2 mount handing
    out memory is v1; a cgroup2 mount whose top hands out memory is v2. None: not known here."""
    told = os.environ.get("COSERVE_EXPECT_CGROUPS")
    if told:
        return told, f"COSERVE_EXPECT_CGROUPS={told}"
    if os.geteuid() != 0:
        return None, "not root"
    v1: set[str] = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype, options, *_ = line.split()
        if fstype == "cgroup2" and "memory" in _words(Path(point) / "cgroup.controllers"):
            return "v2", f"cgroup2 at {point} hands out memory"
        if fstype == "cgroup":
            v1 |= set(options.split(","))
    if {"memory", "cpu", "cpuacct"} <= v1:
        return "v1", "/proc/self/mounts has v1 memory, cpu and cpuacct hierarchies"
    return None, "neither"


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def skip_unless_v1(kind: str) -> None:
    """Skip where the host has no v1; FAIL where it has v1 and detection said otherwise."""
    expected, why = expected_backend()
    if expected == "v1":
        pytest.fail(f"this host has cgroup v1 ({why}) but coserve's detect() chose {kind}")
    pytest.skip(f"needs cgroup v1 as root; this host gives {kind} ({why})")
