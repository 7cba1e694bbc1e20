"""The `none` backend: nothing enforced, a WARNING, stats and kill from the real process tree."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cgroups import CgroupLimits, detect

from .helpers import wait_until

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.mark.integration
def test_stats_and_kill_follow_the_process_tree(tmp_path: Path, spawn: Spawn, caplog: pytest.LogCaptureFixture) -> None:
    backend = detect("coserve-none", root=tmp_path)  # an empty "mount": no cgroups here
    assert backend.kind == "none"
    assert "NOT enforced" in caplog.text
    assert backend.cleanup_stale() == []
    cgroup = backend.create("tree", CgroupLimits(memory_bytes=1 << 30))
    argv = ["sh", "-c", "(sleep 30 &); sleep 30 & wait"]
    assert cgroup.wrap(argv) == argv
    assert cgroup.pids() == []  # nothing attached yet

    proc = spawn(argv)
    cgroup.attach(proc.pid)
    # sh, its sleep, and a sleep whose parent already exited (found by its session)
    wait_until(lambda: len(cgroup.pids()) == 3, what="three processes")
    stats = cgroup.stats()
    assert stats.pids == 3
    assert stats.memory_bytes > 0
    assert stats.cpu_usage_ns >= 0
    assert (stats.memory_limit_bytes, stats.memory_peak_bytes, stats.oom_kills) == (None, None, 0)

    backend.close()
    assert cgroup.pids() == []
    assert proc.wait(timeout=5) == -signal.SIGKILL


def test_without_cgroups_the_oom_order_still_holds() -> None:
    from runtime.cgroups.none import NoneBackend

    backend = NoneBackend()
    plain = backend.create("plain", CgroupLimits())
    assert plain.wrap(["true"]) == ["true"], "nothing to set: the server is spawned as it is"
    ranked = backend.create("ranked", CgroupLimits(oom_score_adj=700))
    done = subprocess.run(ranked.wrap(["sh", "-c", "cat /proc/$$/oom_score_adj"]), capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "700")
    backend.close()
