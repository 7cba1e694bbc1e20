"""CPU modes and throttling on the v2 backend, against a FAKE cgroup2 tree (this host has no v2 controllers).

What the backend writes (cpu.max, cpu.weight, cpuset.cpus, the cpuset controller for the run) and how
it reads cpu.stat's throttling lines; not what a kernel does with them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.cgroups import CgroupLimits
from runtime.cgroups.v2 import V2Backend

from .test_v2_fake import fake_cgroup, read


def started(tmp_path: Path, run_root: str, controllers: str) -> tuple[V2Backend, Path]:
    fake_cgroup(tmp_path, controllers)
    backend = V2Backend(tmp_path, "/", run_root)
    backend.start()
    run = tmp_path / backend.marker
    (run / "cgroup.controllers").write_text(controllers + "\n")  # what the kernel would list for the run
    return backend, run


def test_each_cpu_mode_writes_its_own_files(tmp_path: Path, run_root: str) -> None:
    backend, run = started(tmp_path, run_root, "cpuset cpu memory pids")
    for name in ("w", "q", "p"):
        fake_cgroup(run / name)
    backend.create("w", CgroupLimits(cpus=1.5, cpu_mode="weight"))
    assert (read(run / "w" / "cpu.max"), read(run / "w" / "cpu.weight")) == ("max 100000", "150")
    backend.create("q", CgroupLimits(cpus=1.5, cpu_mode="quota"))
    assert (read(run / "q" / "cpu.max"), read(run / "q" / "cpu.weight")) == ("150000 100000", "100")
    backend.create("p", CgroupLimits(cpus=2, cpu_mode="pinned", cpuset=(2, 3)))
    assert (read(run / "p" / "cpu.max"), read(run / "p" / "cpuset.cpus")) == ("max 100000", "2-3")
    assert read(run / "cgroup.subtree_control") == "+cpuset"  # enabled for the run only once someone pins


def test_pinning_without_a_delegated_cpuset_controller_is_refused(tmp_path: Path, run_root: str) -> None:
    backend, _ = started(tmp_path, run_root, "cpu memory pids")
    assert not backend.has_cpuset
    with pytest.raises(OSError, match="cpuset controller is not delegated"):
        backend.create("p", CgroupLimits(cpus=1, cpu_mode="pinned", cpuset=(1,)))


def test_throttling_is_read_from_cpu_stat(tmp_path: Path, run_root: str) -> None:
    backend, run = started(tmp_path, run_root, "cpu memory pids")
    leaf = fake_cgroup(run / "t")
    group = backend.create("t", CgroupLimits(cpus=0.1))
    (leaf / "cpu.stat").write_text("usage_usec 900\nnr_periods 50\nnr_throttled 42\nthrottled_usec 2500000\n")
    stats = group.stats()
    assert (stats.cpu_usage_ns, stats.cpu_throttled_periods, stats.cpu_throttled_ns) == (900_000, 42, 2_500_000_000)
