"""CPU isolation modes on this host's real cgroup v1: quota caps, weights share, pinned cores stay apart.

Each spinner is single-threaded; two of them only contend when they share a core, so the weight
test puts both on one core (a cpuset) and compares what each got.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cgroups import Backend, Cgroup, CgroupLimits
from runtime.cgroups.cpu import parse_cpus

from .helpers import wait_until

Spawn = Callable[..., subprocess.Popen[str]]
SPIN = "while True:\n    pass"


def used_cores(groups: list[Cgroup], seconds: float) -> list[float]:
    """Cores each cgroup used over a measuring window (the wait bounds the window, it does not synchronise)."""
    before, start = [g.stats().cpu_usage_ns for g in groups], time.monotonic()
    wait_until(lambda: time.monotonic() - start >= seconds, timeout=seconds + 5, what="a measuring window")
    elapsed = time.monotonic() - start
    return [(g.stats().cpu_usage_ns - b) / 1e9 / elapsed for g, b in zip(groups, before, strict=True)]


def spinning(group: Cgroup, spawn: Spawn) -> subprocess.Popen[str]:
    proc = spawn(group.wrap([sys.executable, "-c", SPIN]))
    wait_until(lambda: group.stats().cpu_usage_ns > 50_000_000, what=f"{group.name}'s spinner to run")
    return proc


def cfs(group: Cgroup, key: str) -> str:
    return (group.dirs["cpu"] / f"cpu.{key}").read_text().strip()  # type: ignore[attr-defined]


@pytest.mark.integration
def test_quota_holds_a_spinner_near_its_quota_and_throttles_it(v1: Backend, spawn: Spawn) -> None:
    group = v1.create("quota", CgroupLimits(cpus=0.3, cpu_mode="quota"))
    assert (cfs(group, "cfs_quota_us"), cfs(group, "shares")) == ("30000", "1024")
    spinning(group, spawn)
    (used,) = used_cores([group], 2.0)
    stats = group.stats()
    print(f"quota 0.3: used {used:.3f} cores, throttled {stats.cpu_throttled_periods} periods")
    assert 0.2 <= used <= 0.36
    assert stats.cpu_throttled_periods > 0 and stats.cpu_throttled_ns > 0


@pytest.mark.integration
def test_weight_mode_sets_no_cap_and_two_spinners_on_one_core_share_by_weight(v1: Backend, spawn: Spawn) -> None:
    core = (max(os.sched_getaffinity(0)),)
    light = v1.create("light", CgroupLimits(cpu_weight=100, cpu_mode="weight", cpuset=core))
    heavy = v1.create("heavy", CgroupLimits(cpus=3.0, cpu_mode="weight", cpuset=core))  # Cpus 3 -> weight 300
    assert (cfs(light, "cfs_quota_us"), cfs(light, "shares")) == ("-1", "1024")
    assert (cfs(heavy, "cfs_quota_us"), cfs(heavy, "shares")) == ("-1", "3072")
    spinning(light, spawn), spinning(heavy, spawn)
    light_used, heavy_used = used_cores([light, heavy], 3.0)
    print(f"weights 100:300 on one core: {light_used:.3f} vs {heavy_used:.3f} (ratio {heavy_used / light_used:.2f})")
    assert 2.0 <= heavy_used / light_used <= 4.5
    assert light_used + heavy_used <= 1.05  # both on the one core


@pytest.mark.integration
def test_pinned_cores_show_in_cpuset_cpus_and_in_the_process_affinity(v1: Backend, spawn: Spawn) -> None:
    core = max(os.sched_getaffinity(0))
    group = v1.create("pinned", CgroupLimits(cpus=1.0, cpu_mode="pinned", cpuset=(core,)))
    cpuset_dir: Path = group.dirs["cpuset"]  # type: ignore[attr-defined]
    assert parse_cpus((cpuset_dir / "cpuset.cpus").read_text()) == [core]
    assert cfs(group, "cfs_quota_us") == "-1"  # whole cores of its own: no quota on top
    proc = spinning(group, spawn)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    allowed = next(line.split(":")[1].strip() for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    assert parse_cpus(allowed) == [core]
    group.kill()
    proc.wait(timeout=10)
    v1.close()
    assert not (cpuset_dir.parent).exists()  # the run's cpuset directory went with the rest
