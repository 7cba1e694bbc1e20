"""cgroup v1 on this host, for real: limits, membership from the first instruction, cleanup."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cgroups import Backend, CgroupLimits, detect
from runtime.cgroups.tree import JOIN_FAILED_EXIT, join_argv, run_marker
from tests.support import echo_container

from .helpers import expected_backend, leftovers, skip_unless_v1, v1_parents, wait_until

Spawn = Callable[..., subprocess.Popen[str]]


def _dirs(cgroup: object) -> dict[str, Path]:
    return cgroup.dirs  # type: ignore[attr-defined, no-any-return]


def test_limits_are_written_and_read_back(v1: Backend) -> None:
    cgroup = v1.create("limits", CgroupLimits(memory_bytes=64 << 20, cpus=0.5, cpu_weight=200, pids=20))
    dirs = _dirs(cgroup)
    assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert (dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (dirs["cpu"] / "cpu.cfs_period_us").read_text().strip() == "100000"
    assert (dirs["cpu"] / "cpu.shares").read_text().strip() == "2048"
    assert (dirs["pids"] / "pids.max").read_text().strip() == "20"
    assert cgroup.stats().memory_limit_bytes == 64 << 20

    again = v1.create("limits", CgroupLimits())  # reuse resets to unlimited
    assert (dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "-1"
    assert (dirs["pids"] / "pids.max").read_text().strip() == "max"
    assert again.stats().memory_limit_bytes is None


@pytest.mark.integration
def test_a_request_becomes_the_soft_limit_and_the_oom_order_is_inherited(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("asked", CgroupLimits(memory_bytes=256 << 20, memory_request_bytes=96 << 20, oom_score_adj=640))
    memory = _dirs(cgroup)["memory"]
    assert (memory / "memory.soft_limit_in_bytes").read_text().strip() == str(96 << 20)
    proc = spawn(cgroup.wrap(["sh", "-c", "sleep 30 & cat /proc/$!/oom_score_adj; wait"]), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "640", "a child of the server inherits the adj set before exec"
    assert Path(f"/proc/{proc.pid}/oom_score_adj").read_text().strip() == "640"
    cgroup.kill()
    proc.wait(timeout=5)
    again = v1.create("asked", CgroupLimits())  # reuse lifts the soft limit with the request
    assert (memory / "memory.soft_limit_in_bytes").read_text().strip() == "9223372036854771712"
    assert "oom_score_adj" not in again.wrap(["true"])[2]


@pytest.mark.integration
def test_wrapped_process_and_its_children_are_in_every_hierarchy(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("members", CgroupLimits(memory_bytes=256 << 20))
    # The wrapped program checks its own membership before anything else runs.
    check = "grep -E ':(memory|cpu|cpuacct|pids):' /proc/self/cgroup"
    proc = spawn(cgroup.wrap(["sh", "-c", f"{check}; sleep 30 & sleep 30 & wait"]), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    first = [proc.stdout.readline().strip() for _ in range(4)]
    assert all(line.endswith(f"/{cgroup.name}") for line in first), first
    wait_until(lambda: len(cgroup.pids()) == 3, what="sh and two sleeps")
    for path in dict.fromkeys(_dirs(cgroup).values()):
        assert sorted(int(p) for p in (path / "cgroup.procs").read_text().split()) == cgroup.pids()
    assert proc.pid in cgroup.pids()
    assert cgroup.stats().pids == 3

    cgroup.kill()
    assert cgroup.pids() == []
    assert proc.wait(timeout=5) == -signal.SIGKILL
    cgroup.remove()
    cgroup.remove()  # idempotent
    assert all(not path.exists() for path in _dirs(cgroup).values())


@pytest.mark.integration
def test_wrapper_fails_hard_when_it_cannot_join(tmp_path: Path) -> None:
    argv = join_argv([tmp_path / "missing" / "cgroup.procs"], ["echo", "ran"])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == JOIN_FAILED_EXIT
    assert "cannot join cgroup" in done.stderr
    assert "ran" not in done.stdout


@pytest.mark.integration
def test_close_removes_the_run_directory_and_its_containers(run_root: str, spawn: Spawn) -> None:
    backend = detect(run_root)
    if backend.kind != "v1":
        backend.close()
        skip_unless_v1(backend.kind)
    cgroup = backend.create("one", CgroupLimits())
    proc = spawn(cgroup.wrap(["sleep", "30"]))
    wait_until(lambda: cgroup.pids() == [proc.pid])
    assert len(leftovers(run_root)) == len(set(v1_parents()))
    backend.close()
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert leftovers(run_root) == []


@pytest.mark.integration
def test_cleanup_stale_removes_a_dead_runs_cgroups(v1: Backend, run_root: str, spawn: Spawn) -> None:
    # A run marker with our pid but a start time that is not ours reads as a dead run.
    dead = run_marker(run_root).rsplit(".", 1)[0] + ".1"
    for parent in v1_parents():
        (parent / dead / "orphan").mkdir(parents=True)
    orphan = [parent / dead / "orphan" for parent in v1_parents()]
    procs = [str(path / "cgroup.procs") for path in orphan]
    survivor = spawn(join_argv([Path(p) for p in procs], ["sleep", "30"]))
    wait_until(lambda: str(survivor.pid) in Path(procs[0]).read_text())

    assert v1.cleanup_stale() == [dead]
    assert survivor.wait(timeout=5) == -signal.SIGKILL
    assert all(not (parent / dead).exists() for parent in v1_parents())
    assert v1.cleanup_stale() == []
    assert (v1_parents()[0] / run_marker(run_root)).is_dir()  # our own run is not stale


def test_bad_names_are_refused(v1: Backend) -> None:
    for bad in ["", "..", "a/b", "-x", "x" * 65]:
        with pytest.raises(ValueError, match="cgroup name"):
            v1.create(bad, CgroupLimits())


def test_detect_logs_its_choice(run_root: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="runtime.cgroups")
    backend = detect(run_root)
    backend.close()
    record = next(r for r in caplog.records if r.name == "runtime.cgroups")
    assert record.levelname == ("WARNING" if backend.kind == "none" else "INFO")
    assert f"cgroups: {backend.kind}" in record.getMessage()
    expected, why = expected_backend()
    assert expected in (None, backend.kind), f"this host has {expected} ({why}); detect() chose {backend.kind}"


@pytest.mark.integration
def test_a_start_refused_for_a_taken_port_leaves_no_cgroups(v1: Backend, tmp_path: Path) -> None:
    """coserve sets up its cgroups (sweeping a killed run's containers, which hold ports) before it checks
    the ports; a refused start removes them again."""
    doc = {"EndpointName": "taken", "Containers": [echo_container("a")[0]]}
    doc["Coserve"] = {"Containers": {"a": echo_container("a")[1]}, "Server": {"LogDir": str(tmp_path / "logs")}}
    (tmp_path / "deploy.yaml").write_text(json.dumps(doc))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = [sys.executable, "-m", "runtime", "serve", str(tmp_path / "deploy.yaml"), "--port", port]
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "is not free" in stderr, stderr
    assert "cgroups: v1" in stderr
    assert [p for parent in v1_parents() for p in parent.glob(f"coserve.{proc.pid}.*")] == []
