"""cgroup v1 OOM kills, for real: counted once for a process in the container's cgroup, once for one in a child
cgroup that is gone before anyone reads it (as runc's for a podman image), never for a parent's OOM."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cgroups import Backend, Cgroup, CgroupLimits, detect
from runtime.cgroups.procfs import keyed
from runtime.cgroups.tree import join_argv
from tests.runtime.cgroups.helpers import skip_unless_v1

from .helpers import leftovers, wait_until

pytestmark = pytest.mark.integration
Spawn = Callable[..., subprocess.Popen[str]]
LIMIT = 64 << 20
HOG = "b = []\nwhile True: b.append(bytearray(1 << 20))"


def _memory(cgroup: Cgroup) -> Path:
    return cgroup.dirs["memory"]  # type: ignore[attr-defined, no-any-return]


def _local_oom_kills(memory: Path) -> int:
    return keyed((memory / "memory.oom_control").read_text())["oom_kill"]


def _hog_in(memory: Path, spawn: Spawn, processes: int = 1) -> None:
    """`processes` allocators joined to `memory` only; returns once every one was SIGKILLed."""
    hogs = [spawn(join_argv([memory / "cgroup.procs"], [sys.executable, "-c", HOG])) for _ in range(processes)]
    assert [hog.wait(timeout=60) for hog in hogs] == [-9] * processes


def test_a_process_killed_at_the_limit_counts_once(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("plain", CgroupLimits(memory_bytes=LIMIT))
    assert cgroup.stats().oom_kills == 0
    _hog_in(_memory(cgroup), spawn)
    stats = cgroup.stats()
    assert stats.oom_kills == 1
    assert stats.memory_peak_bytes is not None and stats.memory_peak_bytes >= LIMIT - (1 << 20)
    assert cgroup.stats().oom_kills == 1, "read again: no more"


def test_several_processes_at_the_limit_count_their_kills_not_the_notifications(v1: Backend, spawn: Spawn) -> None:
    # Each allocator that hits the limit while a victim exits is one more OOM notification, not one more kill.
    cgroup = v1.create("crowd", CgroupLimits(memory_bytes=LIMIT))
    _hog_in(_memory(cgroup), spawn, processes=3)
    kills = _local_oom_kills(_memory(cgroup))
    assert kills >= 3
    assert cgroup.stats().oom_kills == kills
    assert cgroup.stats().oom_kills == kills


def test_a_kill_in_a_child_cgroup_removed_before_any_read_counts_once(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("image", CgroupLimits(memory_bytes=LIMIT))
    assert cgroup.stats().oom_kills == 0
    child = _memory(cgroup) / "libpod-test"  # as runc makes it, and podman removes it when the image exits
    child.mkdir()
    _hog_in(child, spawn)
    assert _local_oom_kills(_memory(cgroup)) == 0, "v1 counts it in the child only"
    child.rmdir()
    assert cgroup.stats().oom_kills == 1
    assert cgroup.stats().oom_kills == 1


def test_a_kill_in_a_child_seen_before_it_goes_counts_once(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("seen", CgroupLimits(memory_bytes=LIMIT))
    child = _memory(cgroup) / "libpod-seen"
    child.mkdir()
    sleeper = spawn(join_argv([child / "cgroup.procs"], ["sleep", "30"]))  # the image lives on: a worker was killed
    wait_until(lambda: str(sleeper.pid) in (child / "cgroup.procs").read_text())
    _hog_in(child, spawn)
    assert cgroup.stats().oom_kills == 1
    sleeper.kill()
    sleeper.wait(timeout=5)
    wait_until(lambda: not (child / "cgroup.procs").read_text().strip(), what="the child to empty")
    child.rmdir()
    assert cgroup.stats().oom_kills == 1
    _hog_in(_memory(cgroup), spawn)  # then a process in the container's own cgroup
    assert cgroup.stats().oom_kills == 2


def test_an_oom_at_a_parents_limit_counts_only_for_the_container_of_the_victim(v1: Backend, spawn: Spawn) -> None:
    # The kernel notifies every cgroup below the one under OOM; only the victim's container lost a process.
    victim = v1.create("victim", CgroupLimits(memory_bytes=4 * LIMIT))
    bystander = v1.create("bystander", CgroupLimits(memory_bytes=4 * LIMIT))
    run = _memory(victim).parent
    (run / "memory.limit_in_bytes").write_text(str(LIMIT))
    spawn(join_argv([_memory(bystander) / "cgroup.procs"], ["sleep", "30"]))
    wait_until(lambda: bool(bystander.pids()), what="the bystander's process")
    assert (victim.stats().oom_kills, bystander.stats().oom_kills) == (0, 0)
    _hog_in(_memory(victim), spawn)
    assert (victim.stats().oom_kills, bystander.stats().oom_kills) == (1, 0)


def test_a_notification_trailing_a_counted_kill_adds_nothing(v1: Backend, spawn: Spawn) -> None:
    cgroup = v1.create("trail", CgroupLimits(memory_bytes=LIMIT))
    _hog_in(_memory(cgroup), spawn)
    assert cgroup.stats().oom_kills == 1
    # Stands in for the kernel: another process that hit the limit while the victim exited, read one read later.
    os.eventfd_write(cgroup.oom._eventfd, 1)  # type: ignore[attr-defined]
    assert cgroup.stats().oom_kills == 1


def _eventfds() -> int:
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # the listing's own fd, closed by now
            count += str(fd.readlink()) == "anon_inode:[eventfd]"
    return count


def test_removing_the_cgroups_closes_their_eventfds(run_root: str) -> None:
    before = _eventfds()
    backend = detect(run_root)
    if backend.kind != "v1":
        backend.close()
        skip_unless_v1(backend.kind)  # fails, not skips, where the host has v1 and detection missed it
    try:
        backend.create("one", CgroupLimits(memory_bytes=LIMIT))
        backend.create("one", CgroupLimits(memory_bytes=LIMIT))  # reused: the first object's go
        backend.create("two", CgroupLimits())
        assert _eventfds() == before + 4, "the container's and its parent's, for each of two containers"
    finally:
        backend.close()
    assert _eventfds() == before
    assert leftovers(run_root) == []
