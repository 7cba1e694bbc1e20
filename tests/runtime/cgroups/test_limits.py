"""The limits bite, on this host's real cgroup v1: memory (OOM kill), CPU quota, pids.max."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from runtime.cgroups import Backend, CgroupLimits

from .helpers import wait_until

Spawn = Callable[..., subprocess.Popen[str]]

HOG = "a = []\nwhile True:\n    a.append(bytearray(1 << 20))"
SPIN = "while True:\n    pass"
FORKS = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)  # each forked child holds a pid until the cgroup is killed
            os._exit(0)
        n += 1
except BlockingIOError as exc:
    print(n, type(exc).__name__, flush=True)
time.sleep(60)  # stay alive to be inspected, then killed with the cgroup
"""


@pytest.mark.integration
def test_memory_hog_is_oom_killed_and_counted(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("hog", CgroupLimits(memory_bytes=64 << 20))
    before = cgroup.stats().oom_kills
    hog = spawn(cgroup.wrap([sys.executable, "-c", HOG]))
    assert hog.wait(timeout=30) == -signal.SIGKILL  # and this test, its parent, lives on
    wait_until(lambda: cgroup.stats().oom_kills > before, what="oom_kill to be counted")
    stats = cgroup.stats()
    assert stats.oom_kills == before + 1
    assert stats.memory_peak_bytes is not None
    assert 48 << 20 <= stats.memory_peak_bytes <= 64 << 20
    print(f"OOM: killed by SIGKILL, oom_kills={stats.oom_kills}, peak={stats.memory_peak_bytes}")


@pytest.mark.integration
def test_half_a_cpu_holds_a_spinner_near_half_a_core(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("spin", CgroupLimits(cpus=0.5))
    spin = spawn(cgroup.wrap([sys.executable, "-c", SPIN]))
    wait_until(lambda: cgroup.stats().cpu_usage_ns > 50_000_000, what="the spinner to run")
    start_ns, start = cgroup.stats().cpu_usage_ns, time.monotonic()
    wait_until(lambda: time.monotonic() - start >= 2.5, what="a 2.5 s measuring window")
    used = (cgroup.stats().cpu_usage_ns - start_ns) / 1e9 / (time.monotonic() - start)
    spin.kill()
    print(f"CPU: spinner limited to 0.5 used {used:.3f} cores")
    assert 0.3 <= used <= 0.6


@pytest.mark.integration
def test_pids_max_stops_a_fork_loop(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("forks", CgroupLimits(pids=10))
    forker = spawn(cgroup.wrap([sys.executable, "-c", FORKS]), stdout=subprocess.PIPE)
    assert forker.stdout is not None
    forked, error = forker.stdout.readline().split()
    assert error == "BlockingIOError"
    assert int(forked) == 9  # ten tasks: the forker and nine children
    assert len(cgroup.pids()) == 10
    cgroup.kill()
    assert cgroup.pids() == []
