"""The v2 backend against a FAKE cgroup2 tree in a temporary directory.

This host has no cgroup v2 controllers mounted (only an empty cgroup2 at /sys/fs/cgroup/unified
next to the v1 hierarchies), so these tests check what the backend writes and how it parses what
the kernel would write, not what a kernel does with it. The fake cannot be rmdir'ed the way
cgroupfs can (it holds regular files), so `remove()`/`close()` are not exercised here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from runtime.cgroups import CgroupLimits, detect
from runtime.cgroups.v2 import V2Backend

KERNEL_FILES = {
    "memory.max": "max\n",
    "memory.swap.max": "max\n",
    "pids.max": "max\n",
    "cpu.weight": "100\n",
    "cgroup.procs": "",
    "cgroup.kill": "",
    "memory.current": "12345\n",
    "memory.peak": "23456\n",
    "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n",
    "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
}


def fake_cgroup(path: Path, controllers: str = "cpu memory pids", *, root: bool = False) -> Path:
    """A directory as cgroupfs would populate it on mkdir (or, with `root`, the root cgroup)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    (path / "cgroup.subtree_control").write_text("")
    for name, text in KERNEL_FILES.items():
        (path / name).write_text(text)
    if not root:  # the one file the root cgroup lacks
        (path / "cgroup.type").write_text("domain\n")
    return path


def read(path: Path) -> str:
    return path.read_text().strip()


def test_limits_are_written_in_v2_syntax(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path, "cpuset cpu io memory pids", root=True)
    backend = detect(run_root, root=tmp_path)
    assert backend.kind == "v2"
    run = tmp_path / backend.marker  # type: ignore[attr-defined]
    assert read(tmp_path / "cgroup.subtree_control") == "+memory +cpu +pids"
    assert read(run / "cgroup.subtree_control") == "+memory +cpu +pids"

    fake_cgroup(run / "a")
    backend.create("a", CgroupLimits(memory_bytes=256 << 20, cpus=0.5, cpu_weight=250, pids=64))
    assert read(run / "a" / "memory.max") == str(256 << 20)
    assert read(run / "a" / "memory.swap.max") == "0"
    assert read(run / "a" / "cpu.max") == "50000 100000"
    assert read(run / "a" / "cpu.weight") == "250"
    assert read(run / "a" / "pids.max") == "64"
    assert read(run / "a" / "memory.low") == "0"  # no request: no protection

    fake_cgroup(run / "b")
    backend.create("b", CgroupLimits(cpus=1.5))
    assert read(run / "b" / "memory.max") == "max"
    assert read(run / "b" / "memory.swap.max") == "max"
    assert read(run / "b" / "cpu.max") == "150000 100000"
    assert read(run / "b" / "cpu.weight") == "100"
    assert read(run / "b" / "pids.max") == "max"
    with pytest.raises(ValueError, match="reserved"):
        backend.create("supervisor", CgroupLimits())


def test_a_request_protects_memory_and_sets_the_oom_order(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path)
    backend = V2Backend(tmp_path, "/", run_root)
    backend.start()
    leaf = fake_cgroup(tmp_path / backend.marker / "r")
    cgroup = backend.create("r", CgroupLimits(memory_bytes=256 << 20, memory_request_bytes=96 << 20, oom_score_adj=640))
    assert read(leaf / "memory.low") == str(96 << 20)
    assert read(leaf / "memory.max") == str(256 << 20)
    script = cgroup.wrap(["true"])[2]
    assert "echo 640 > /proc/$$/oom_score_adj" in script, "set in the wrapper, before the server starts"


def test_stats_are_parsed_from_kernel_files(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path, root=True)
    backend = V2Backend(tmp_path, "/", run_root)
    backend.start()
    leaf = fake_cgroup(tmp_path / backend.marker / "c")
    cgroup = backend.create("c", CgroupLimits(memory_bytes=256 << 20))
    (leaf / "cgroup.procs").write_text("101\n102\n")
    stats = cgroup.stats()
    assert stats.memory_bytes == 12345
    assert stats.memory_peak_bytes == 23456
    assert stats.memory_limit_bytes == 256 << 20
    assert stats.cpu_usage_ns == 1_500_000_000
    assert stats.oom_kills == 2
    assert stats.pids == 2
    assert cgroup.pids() == [101, 102]

    (tmp_path / backend.marker / "memory.max").write_text("100000000\n")  # an ancestor's cap
    assert cgroup.stats().memory_limit_bytes == 100_000_000
    (leaf / "memory.peak").unlink()  # kernels before 5.19
    assert cgroup.stats().memory_peak_bytes is None

    (leaf / "cgroup.procs").write_text("")
    cgroup.kill()
    assert read(leaf / "cgroup.kill") == "1"


def test_supervisor_moves_into_a_leaf_when_not_at_the_root(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path, "cpuset cpu io memory pids", root=True)
    fake_cgroup(tmp_path / "svc")
    backend = V2Backend(tmp_path, "/svc", run_root)
    backend.start()
    run = tmp_path / "svc" / backend.marker
    assert read(run / "supervisor" / "cgroup.procs") == str(os.getpid())
    assert read(tmp_path / "svc" / "cgroup.subtree_control") == "+memory +cpu +pids"
    assert read(run / "cgroup.subtree_control") == "+memory +cpu +pids"


@pytest.mark.integration
def test_wrapper_writes_its_own_pid_before_exec(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path, root=True)
    backend = V2Backend(tmp_path, "/", run_root)
    backend.start()
    leaf = fake_cgroup(tmp_path / backend.marker / "w")
    cgroup = backend.create("w", CgroupLimits())
    argv = cgroup.wrap(["sh", "-c", 'echo $$; cat "$0"', str(leaf / "cgroup.procs")])
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    pid, joined = done.stdout.split()
    assert pid == joined  # exec kept the pid that joined, and it joined before running argv


def test_cleanup_stale_removes_dead_runs_only(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path, root=True)
    backend = V2Backend(tmp_path, "/", run_root)
    backend.start()
    dead = tmp_path / f"{run_root}.{os.getpid()}.1"
    (dead / "old").mkdir(parents=True)  # empty dirs: cgroupfs lets rmdir remove them
    (tmp_path / f"{run_root}-other.{os.getpid()}.1").mkdir()  # another run root: not ours
    assert backend.cleanup_stale() == [dead.name]
    assert not dead.exists()
    assert (tmp_path / backend.marker).is_dir()
    assert (tmp_path / f"{run_root}-other.{os.getpid()}.1").is_dir()


def test_an_unusable_hierarchy_falls_back_to_none_loudly(
    tmp_path: Path, run_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")  # no subtree_control
    backend = detect(run_root, root=tmp_path)
    assert backend.kind == "none"
    assert "present but unusable" in caplog.text
    assert "NOT enforced" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["cgroup.controllers"]  # nothing left behind
