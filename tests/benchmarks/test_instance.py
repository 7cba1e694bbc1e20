"""The instance-sized cgroup the benchmarks confine a coserve in: its cores on a bigger host, for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.instance import InstanceCgroup, instance_cores


def test_an_instance_gets_the_hosts_last_cores_only_where_the_host_has_more() -> None:
    assert instance_cores(2, list(range(16))) == [14, 15]
    assert instance_cores(1.5, list(range(16))) == [14, 15]  # whole vCPUs
    assert instance_cores(4, [0, 2, 4, 6, 8]) == [2, 4, 6, 8]  # the cores this process may use, not 0..n
    assert instance_cores(2, [0, 1]) is None  # the quota alone already matches a 2-vCPU instance
    assert instance_cores(16, [0, 1]) is None


@pytest.mark.integration
def test_a_process_started_in_a_pinned_instance_runs_on_its_cores_only() -> None:
    host = sorted(os.sched_getaffinity(0))
    if len(host) < 2:
        pytest.fail("this test needs at least 2 cores (the machines here have 2)")
    cores = instance_cores(1, host)
    assert cores == host[-1:]
    cg = InstanceCgroup(f"coserve-test-cores-{time.monotonic_ns()}", 1.0, 256 * 2**20, cores).create()
    try:
        show = "import os; print(sorted(os.sched_getaffinity(0))); print(open('/proc/self/cgroup').read())"
        out = subprocess.run(cg.prologue([sys.executable, "-c", show]), capture_output=True, check=True, text=True)
        affinity, groups = out.stdout.split("\n", 1)
        assert affinity == str(cores)
        assert any(
            line.endswith(cg.name) for line in groups.splitlines() if ("cpuset" in line or line.startswith("0::"))
        )
    finally:
        cg.remove()
    assert not any(d.exists() for d in cg.dirs.values())
