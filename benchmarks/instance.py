"""An instance-sized cgroup to confine a whole coserve in, as one SageMaker instance would confine it.

coserve makes its containers' cgroups under the cgroup it runs in, so a coserve started inside this one has
every container under it: the instance's CPU quota and memory limit hold for all of them together, and its
counters add them up. cgroup v1 (memory, cpu, cpuacct, pids, and cpuset when pinned) and v2 are supported; we
must be root.

On a host with more cores than the instance has vCPUs (a 16-core host standing in for a 2-vCPU instance), a
quota alone would let the instance's threads run on every core at once and then throttle them for the rest
of each period: a burst pattern no real 2-vCPU instance has. There the cgroup is also given a cpuset of
exactly its vCPUs (`instance_cores`), the host's last cores, leaving the first to the load generator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

MOUNT = Path("/sys/fs/cgroup")
V1 = ("memory", "cpu", "cpuacct", "pids")
PERIOD_US = 100_000


def instance_cores(vcpus: float, host: list[int] | None = None) -> list[int] | None:
    """The cores an instance of `vcpus` is pinned to on this host: its last whole vCPUs' worth, or None where the
    host has no more cores than that (the quota alone then matches the instance)."""
    cores = sorted(host if host is not None else os.sched_getaffinity(0))
    whole = max(1, int(vcpus + 0.999))
    return cores[-whole:] if len(cores) > whole else None


def own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path ('' is the v2 hierarchy)."""
    out: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            out[name] = path
    return out


class InstanceCgroup:
    """One cgroup per hierarchy, named `name`, under the cgroups this process is in."""

    def __init__(self, name: str, cpus: float, memory_bytes: int, cores: list[int] | None = None) -> None:
        self.name = name
        self.cpus = cpus
        self.memory_bytes = memory_bytes
        self.cores = cores  # a cpuset (instance_cores), or None: the quota alone
        self.v2 = not (MOUNT / "memory" / "memory.limit_in_bytes").exists()
        own = own_cgroups()
        if self.v2:
            self.dirs = {"": MOUNT / own.get("", "/").lstrip("/") / name}
        else:
            wanted = (*V1, "cpuset") if cores else V1
            self.dirs = {c: MOUNT / c / own.get(c, "/").lstrip("/") / name for c in wanted if (MOUNT / c).is_dir()}

    def create(self) -> InstanceCgroup:
        for path in self.dirs.values():
            path.mkdir(exist_ok=True)
        quota = max(1000, round(self.cpus * PERIOD_US))
        cpus = ",".join(map(str, self.cores or []))
        if self.v2:
            self._enable_v2(self.dirs[""].parent)
            self._write("", "memory.max", str(self.memory_bytes))
            self._write("", "memory.swap.max", "0")
            self._write("", "cpu.max", f"{quota} {PERIOD_US}")
            if cpus:
                self._write("", "cpuset.cpus", cpus)
            return self
        if cpus:  # v1 cpuset: mems before cpus, and both before any task joins
            self._write("cpuset", "cpuset.mems", (self.dirs["cpuset"].parent / "cpuset.mems").read_text().strip())
            self._write("cpuset", "cpuset.cpus", cpus)
        self._write("memory", "memory.limit_in_bytes", str(self.memory_bytes))
        with contextlib.suppress(OSError):  # no swap accounting: nothing to cap
            self._write("memory", "memory.memsw.limit_in_bytes", str(self.memory_bytes))
        self._write("cpu", "cpu.cfs_period_us", str(PERIOD_US))
        self._write("cpu", "cpu.cfs_quota_us", str(quota))
        return self

    def _enable_v2(self, parent: Path) -> None:
        with contextlib.suppress(OSError):  # already enabled, or the parent delegates none: limits then fail loudly
            (parent / "cgroup.subtree_control").write_text("+memory +cpu +pids" + (" +cpuset" if self.cores else ""))

    def _write(self, controller: str, file: str, value: str) -> None:
        (self.dirs[controller] / file).write_text(value)

    def _read(self, controller: str, file: str) -> str:
        return (self.dirs[controller] / file).read_text()

    def prologue(self, argv: list[str]) -> list[str]:
        """`argv`, run from its first instruction inside this cgroup (the shell joins it, then execs)."""
        joins = " && ".join(f"echo $$ > '{d / 'cgroup.procs'}'" for d in dict.fromkeys(self.dirs.values()))
        return ["sh", "-c", f'{joins} && exec "$@"', "sh", *argv]

    def cpu_ns(self, below: str = "") -> int:
        """CPU time of the instance, or of a cgroup `below` it (a glob, e.g. `*/hostname`), in ns."""
        if self.v2:
            return sum(_usec(p / "cpu.stat") * 1000 for p in self._glob("", below))
        return sum(int((p / "cpuacct.usage").read_text()) for p in self._glob("cpuacct", below))

    def throttled(self, below: str = "") -> int:
        """CFS periods in which the instance (or the cgroups `below` it) hit its CPU quota: cpu.stat nr_throttled."""
        paths = self._glob("" if self.v2 else "cpu", below)
        return sum(_stat(p / "cpu.stat", "nr_throttled") for p in paths if (p / "cpu.stat").exists())

    def memory_peak(self, below: str = "") -> int:
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return sum(int((p / name).read_text()) for p in self._glob("" if self.v2 else "memory", below))

    def memory_now(self, below: str = "") -> int:
        name = "memory.current" if self.v2 else "memory.usage_in_bytes"
        return sum(int((p / name).read_text()) for p in self._glob("" if self.v2 else "memory", below))

    def oom_kills(self) -> int:
        text = self._read("", "memory.events") if self.v2 else self._read("memory", "memory.oom_control")
        return next((int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("oom_kill ")), 0)

    def cpu_dir(self) -> Path:
        """The directory whose CPU counter is the instance's (v1 cpuacct, or v2's one)."""
        return self.dirs["" if self.v2 else "cpuacct"]

    def cpu_stat_dir(self) -> Path:
        """The directory of the instance's cpu.stat (nr_throttled): v1 cpu, or v2's one."""
        return self.dirs["" if self.v2 else "cpu"]

    def container_dirs(self, below: str) -> list[Path]:
        """The CPU-counting cgroup directories matching `below` (a glob under the instance)."""
        return self._glob("" if self.v2 else "cpuacct", below)

    def _glob(self, controller: str, below: str) -> list[Path]:
        base = self.dirs[controller]
        return sorted(base.glob(below)) if below else [base]

    def remove(self) -> None:
        """Kill whatever is left in it (coserve removes its own cgroups on a clean stop), then rmdir."""
        for path in dict.fromkeys(self.dirs.values()):
            deadline = time.monotonic() + 10
            while (pids := _pids(path)) and time.monotonic() < deadline:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)  # polling for the kernel to reap them
            for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()


def _pids(path: Path) -> list[int]:
    return [int(x) for p in [path, *path.rglob("*")] if (p / "cgroup.procs").exists()
            for x in (p / "cgroup.procs").read_text().split()]  # fmt: skip


def _usec(stat: Path) -> int:
    return _stat(stat, "usage_usec")


def _stat(stat: Path, key: str) -> int:
    return next((int(ln.split()[1]) for ln in stat.read_text().splitlines() if ln.split()[:1] == [key]), 0)
