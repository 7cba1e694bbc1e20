"""What a hostile test checks at the end: no process and no cgroup of a container outlives coserve."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psutil

from runtime.cgroups.procfs import cgroup_mounts, own_cgroups
from tests.support import Coserve


def container_processes(c: Coserve, hostname: str) -> list[psutil.Process]:
    """coserve's descendants that belong to container `hostname` (by the environment coserve gave it)."""
    found = []
    for proc in c.descendants():
        try:
            if proc.environ().get("COSERVE_CONTAINER_HOSTNAME") == hostname:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def cgroup_dirs(pid: int) -> set[Path]:
    """The cgroup directories of `pid` that are not the test's own: the ones coserve made for it."""
    mounts, mine = cgroup_mounts(), own_cgroups()
    dirs = set()
    for controller, path in own_cgroups(Path(f"/proc/{pid}/cgroup").read_text()).items():
        mount = mounts.v2[0] if controller == "" and mounts.v2 else mounts.v1.get(controller)
        if mount is not None and path != mine.get(controller):
            dirs.add(mount / path.lstrip("/"))
    return dirs


@dataclass
class Snapshot:
    """Every process and cgroup of the running containers, taken while they run."""

    processes: list[psutil.Process] = field(default_factory=list)
    cgroups: set[Path] = field(default_factory=set)

    def add(self, procs: list[psutil.Process]) -> None:
        for proc in procs:
            self.processes.append(proc)
            try:
                self.cgroups |= cgroup_dirs(proc.pid)
            except OSError:
                continue  # it ended between the listing and the read; the process check still holds

    def assert_processes_gone(self) -> None:
        _, alive = psutil.wait_procs(self.processes, timeout=10)
        assert alive == [], f"processes left behind: {alive}"

    def assert_gone(self) -> None:
        self.assert_processes_gone()
        left = sorted(str(d) for d in self.cgroups if d.exists())
        assert left == [], f"cgroups left behind: {left}"


def snapshot(c: Coserve) -> Snapshot:
    snap = Snapshot()
    snap.add(c.descendants())
    return snap


def lifecycle(c: Coserve, hostname: str) -> list[str]:
    """The lifecycle lines coserve wrote into the container's own log, without their timestamps."""
    path = c.workdir / "logs" / f"{hostname}.log"
    text = path.read_text() if path.exists() else ""
    return [line.split(" coserve: ", 1)[1] for line in text.splitlines() if " coserve: " in line]
