"""Polling and the v1 directories the tests inspect."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

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
