"""Where coserve's own v2 cgroup is and whether it may use it: decisions against FAKE trees, and
the namespace search for real on this host's (controller-less) cgroup2 mount.

The fakes are directories laid out like cgroupfs: they show what coserve decides and writes, not
what a kernel does with it. The guest tier (tests/vm/) runs the same cases on a real v2 kernel.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cgroups import CgroupLimits, detect
from runtime.cgroups import claim as claim_module
from runtime.cgroups import place as place_module
from runtime.cgroups.claim import ADVICE, claim_v2
from runtime.cgroups.place import locate, mount_roots, real_v2_path, systemd_owned
from runtime.cgroups.procfs import cgroup_mounts
from runtime.cgroups.tree import run_marker
from runtime.cgroups.v2 import V2Backend

from .test_v2_fake import fake_cgroup, read

ME = os.getpid()
OTHER = 999_999_999  # a pid that cannot exist: only ever written into fake files


def member(path: Path, *pids: int) -> Path:
    fake_cgroup(path)
    (path / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))
    return path


def test_locate_in_a_plain_mount(tmp_path: Path) -> None:
    fake_cgroup(tmp_path, root=True)
    member(tmp_path / "a" / "b", ME)
    found = locate(tmp_path, "/a/b", "/")
    assert found is not None and found.path == tmp_path / "a" / "b" and not found.ns_root
    assert locate(tmp_path, "/a", "/") is None  # a cgroup that does not list us is not ours


def test_locate_in_a_namespace_with_a_fresh_mount(tmp_path: Path) -> None:
    member(tmp_path, ME)  # the mount's top is the namespace root: a real cgroup, not the host's root
    found = locate(tmp_path, "/", "/")
    assert found is not None and found.path == tmp_path and found.ns_root


def test_locate_in_a_namespace_that_sees_the_host_mount(tmp_path: Path) -> None:
    fake_cgroup(tmp_path, root=True)
    member(tmp_path / "system.slice" / "other.scope", OTHER)
    member(tmp_path / "system.slice" / "box.scope", ME)
    found = locate(tmp_path, "/", "/../..")  # mountinfo: the mount's root is two levels up
    assert found is not None and found.path == tmp_path / "system.slice" / "box.scope" and found.ns_root
    member(tmp_path / "system.slice" / "box.scope" / "inner")
    (tmp_path / "system.slice" / "box.scope" / "cgroup.procs").write_text("")
    (tmp_path / "system.slice" / "box.scope" / "inner" / "cgroup.procs").write_text(f"{ME}\n")
    found = locate(tmp_path, "/inner", "/../..")
    assert found is not None and found.path.name == "inner" and not found.ns_root
    assert locate(tmp_path, "/", "/../..") is None  # nowhere at that depth lists us: never guess


def test_locate_refuses_a_mount_of_another_branch(tmp_path: Path) -> None:
    member(tmp_path / "b", ME)
    assert locate(tmp_path, "/a/b", "/x") is None


def test_a_busy_cgroup_without_systemd_is_refused_with_advice(
    tmp_path: Path, run_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_module, "scope_available", lambda: False)
    fake_cgroup(tmp_path, root=True)
    member(tmp_path / "session.scope", ME, OTHER)
    path, why = claim_v2(tmp_path, "/session.scope", "/", run_root)
    assert path is None
    assert f"also holds other processes ({OTHER})" in why and ADVICE in why
    assert sorted(p.name for p in (tmp_path / "session.scope").iterdir() if p.is_dir()) == []


def test_an_undelegated_unit_is_not_used(tmp_path: Path, run_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(place_module, "SYSTEMD_RUNNING", tmp_path)  # "booted with systemd"
    monkeypatch.setattr(claim_module, "scope_available", lambda: False)
    fake_cgroup(tmp_path, root=True)
    unit = member(tmp_path / "system.slice" / "app.service", ME)
    assert systemd_owned(unit, tmp_path)
    path, why = claim_v2(tmp_path, "/system.slice/app.service", "/", run_root)
    assert path is None and "not delegated" in why
    os.setxattr(unit, "user.delegate", b"1")  # what Delegate=yes leaves (trusted.delegate for root's units)
    assert not systemd_owned(unit, tmp_path)
    assert claim_v2(tmp_path, "/system.slice/app.service", "/", run_root)[0] == unit
    box = member(tmp_path / "box", ME)  # made by hand, no unit's: whoever made it gave it to coserve
    assert not systemd_owned(box, tmp_path)


def test_the_namespace_roots_other_processes_move_to_init(tmp_path: Path, run_root: str) -> None:
    member(tmp_path, ME, OTHER)  # a container's cgroup: coserve and its init (tini)
    fake_cgroup(tmp_path / "init")  # cgroupfs would populate it on mkdir
    path, why = claim_v2(tmp_path, "/", "/", run_root)
    assert path == tmp_path
    assert read(tmp_path / "init" / "cgroup.procs") == str(OTHER)
    assert "root of coserve's cgroup namespace" in why and f"[{OTHER}] moved to init/" in why


def test_memory_and_pids_without_cpu_are_used_and_cpu_named_once(
    tmp_path: Path, run_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake_cgroup(tmp_path, "memory pids", root=True)
    backend = detect(run_root, root=tmp_path)
    assert backend.kind == "v2"
    run = tmp_path / backend.marker  # type: ignore[attr-defined]
    assert read(tmp_path / "cgroup.subtree_control") == "+memory +pids"
    leaf = fake_cgroup(run / "a", "memory pids")
    (leaf / "cpu.max").unlink(missing_ok=True)
    (leaf / "cpu.weight").unlink()  # without the cpu controller the kernel makes neither
    cgroup = backend.create("a", CgroupLimits(memory_bytes=64 << 20, cpus=0.5, cpu_weight=300, pids=20))
    assert read(leaf / "memory.max") == str(64 << 20)
    assert read(leaf / "pids.max") == "20"
    assert not (leaf / "cpu.weight").exists() and not (leaf / "cpu.max").exists()
    assert cgroup.stats().memory_bytes == 12345
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "without the cpu controller" in warnings[0]
    assert "Cpus and CpuWeight limits are NOT enforced" in warnings[0]


def test_a_dead_runs_scope_is_swept(tmp_path: Path, run_root: str) -> None:
    fake_cgroup(tmp_path, root=True)
    slice_ = tmp_path / "system.slice"
    mine = fake_cgroup(slice_ / f"{run_marker(run_root)}.scope")
    dead = slice_ / f"{run_marker(run_root).rsplit('.', 1)[0]}.1.scope"
    (dead / f"{dead.stem}" / "hog").mkdir(parents=True)  # empty dirs: cgroupfs lets rmdir remove them
    (slice_ / "other.scope").mkdir()
    backend = V2Backend(tmp_path, f"/system.slice/{mine.name}", run_root)
    backend.start()
    assert backend.cleanup_stale() == [dead.name]
    assert not dead.exists() and (slice_ / "other.scope").is_dir() and mine.is_dir()


def _real_unified() -> Path:
    mounts = cgroup_mounts().v2
    if os.geteuid() != 0 or not mounts or shutil.which("unshare") is None:
        pytest.skip("needs root, util-linux unshare and a cgroup2 mount")
    return mounts[0]


PROBE = (
    "from runtime.cgroups.place import locate, mount_roots; from runtime.cgroups.procfs import own_cgroups;"
    "import sys; m = __import__('pathlib').Path(sys.argv[1]);"
    "f = locate(m, own_cgroups()[''], mount_roots()[m]); print(f.path if f else None, f and f.ns_root)"
)


@pytest.mark.integration
@pytest.mark.parametrize("fresh_mount", [False, True])
def test_a_real_cgroup_namespace_is_found_below_the_mount(run_root: str, tmp_path: Path, fresh_mount: bool) -> None:
    """For real: a cgroup namespace rooted at a new cgroup, seen through the host's mount or a fresh one."""
    mount = _real_unified()
    box = mount / run_root / "ns"
    box.mkdir(parents=True)
    try:
        probe = [sys.executable, "-c", PROBE]
        if fresh_mount:
            inner = ["unshare", "--cgroup", "--mount", "sh", "-c", f'mount -t cgroup2 none {tmp_path} && exec "$@"']
            argv = [*inner, "sh", *probe, str(tmp_path)]
        else:
            argv = ["unshare", "--cgroup", *probe, str(mount)]
        join = f'echo $$ > {box}/cgroup.procs && exec "$@"'
        done = subprocess.run(["sh", "-c", join, "sh", *argv], capture_output=True, text=True, check=True)
        assert done.stdout.split() == [str(tmp_path if fresh_mount else box), "True"], done
    finally:
        box.rmdir()
        box.parent.rmdir()
    assert mount_roots()[mount] == "/"  # outside the namespace, the mount is the host's whole tree


def test_capacity_reads_the_real_cgroup_in_a_namespace(tmp_path: Path) -> None:
    """own_memory_limit and own_cpu_limit start from this path: the container's cgroup, not the host's root."""
    fake_cgroup(tmp_path, root=True)
    member(tmp_path / "machine.slice" / "ctr.scope", ME)
    roots = {tmp_path: "/../.."}
    assert real_v2_path(tmp_path, "/", roots) == "/machine.slice/ctr.scope"
    assert real_v2_path(tmp_path, "/", {tmp_path: "/"}) == "/"
    assert real_v2_path(tmp_path, "/elsewhere", roots) == "/elsewhere"  # not found: as the kernel wrote it


def test_a_dead_runs_containers_below_do_not_make_the_cgroup_busy(
    tmp_path: Path, run_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_module, "scope_available", lambda: False)
    fake_cgroup(tmp_path, root=True)
    own = member(tmp_path / "box", ME)
    member(own / f"{run_root}.1.1")
    member(own / f"{run_root}.1.1" / "hog", OTHER)  # left by a run killed with -9; the sweep kills it later
    assert claim_v2(tmp_path, "/box", "/", run_root) == (own, str(own))
