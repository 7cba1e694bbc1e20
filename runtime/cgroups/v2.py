"""cgroup v2: plain files under the unified mount.

Layout, because of the "no internal processes" rule (a non-root cgroup that hands controllers to
its children may hold no processes itself):

    <own>/                      coserve's cgroup; memory, cpu and pids enabled in subtree_control
    <own>/<marker>/             this run; controllers enabled again for the containers
    <own>/<marker>/supervisor/  coserve itself, moved here so that <own> is empty
    <own>/<marker>/<name>/      one leaf per container

coserve moves itself only when <own> is not the host's root cgroup (the root is exempt). That is
why `detect()` must run before coserve starts any child process: a child left in <own> makes
enabling the controllers fail (EBUSY), and coserve then falls back to the `none` backend, loudly.
`claim` chose <own> (a cgroup of coserve's own, found for real inside a cgroup namespace).
Each controller the cgroup is given is used; the limits of a missing one are not written (the
files do not exist), and `detect()` names them in one warning. `close()` undoes it all when it can.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .api import CgroupLimits, Stats, check_name
from .cpu import PERIOD_US, format_cpus, quota_us, weight
from .place import is_host_root
from .procfs import controllers, effective_v2_limit, keyed, under
from .tree import gone, is_stale, join_argv, kill_all, read_pids, remove_tree, run_marker, stale_dirs

_log = logging.getLogger("runtime.cgroups")

WANTED = ("memory", "cpu", "pids")
NOT_ENFORCED = {"memory": "Memory", "cpu": "Cpus and CpuWeight", "pids": "Pids"}
"""The deployment's limits each controller enforces."""
SUPERVISOR = "supervisor"


def kill_v2(cgroup: Path) -> bool:
    """`cgroup.kill` (Linux 5.14+) kills the whole subtree at once, fork loops included."""
    try:
        if (cgroup / "cgroup.kill").exists():
            (cgroup / "cgroup.kill").write_text("1")
    except OSError as exc:
        if not gone(exc):
            raise
    return kill_all(cgroup)


class V2Cgroup:
    def __init__(self, name: str, path: Path, mount: Path, enabled: tuple[str, ...] = WANTED) -> None:
        self.name = name
        self.path = path
        self.mount = mount
        self.enabled = enabled
        self.oom_score_adj: int | None = None

    def _read(self, filename: str) -> str:
        return (self.path / filename).read_text()

    def _write(self, filename: str, value: str) -> None:
        (self.path / filename).write_text(value)

    def apply(self, limits: CgroupLimits) -> None:
        self.oom_score_adj = limits.oom_score_adj
        if "memory" in self.enabled:
            self._write("memory.max", str(limits.memory_bytes or "max"))
            # Up to its request the container's memory is protected while there is reclaimable memory elsewhere.
            self._write("memory.low", str(limits.memory_request_bytes or 0))
        if (self.path / "memory.swap.max").exists():  # swap must not stretch the hard limit
            self._write("memory.swap.max", "max" if limits.memory_bytes is None else "0")
        if "cpu" in self.enabled:
            self._write("cpu.max", f"{quota_us(limits.cpu_mode, limits.cpus) or 'max'} {PERIOD_US}")
            self._write("cpu.weight", str(weight(limits.cpu_mode, limits.cpus, limits.cpu_weight)))
        if limits.cpuset is not None:  # create() enabled the cpuset controller for it
            self._write("cpuset.cpus", format_cpus(limits.cpuset))
        if "pids" in self.enabled:
            self._write("pids.max", str(limits.pids or "max"))

    def wrap(self, argv: list[str]) -> list[str]:
        return join_argv([self.path / "cgroup.procs"], argv, self.oom_score_adj)

    def attach(self, pid: int) -> None:
        """Nothing to do: the wrapper put the process in place."""

    def pids(self) -> list[int]:
        return sorted(read_pids(self.path))

    def stats(self) -> Stats:
        peak = self.path / "memory.peak"  # Linux 5.19+
        memory = "memory" in self.enabled  # without it there is no memory.* file to read
        cpu = keyed(self._read("cpu.stat"))  # nr_throttled/throttled_usec are there with the cpu controller
        return Stats(
            memory_bytes=int(self._read("memory.current")) if memory else 0,
            memory_peak_bytes=int(peak.read_text()) if memory and peak.exists() else None,
            memory_limit_bytes=effective_v2_limit(self.path, self.mount) if memory else None,
            cpu_usage_ns=cpu["usage_usec"] * 1000,
            oom_kills=keyed(self._read("memory.events")).get("oom_kill", 0) if memory else 0,
            pids=len(self.pids()),
            cpu_throttled_periods=cpu.get("nr_throttled", 0),
            cpu_throttled_ns=cpu.get("throttled_usec", 0) * 1000,
        )

    def kill(self) -> None:
        kill_v2(self.path)

    def remove(self) -> None:
        remove_tree(self.path, kill_v2)


class V2Backend:
    kind = "v2"

    def __init__(self, mount: Path, own: str, run_root: str) -> None:
        self.mount = mount
        self.own = own
        self.run_root = run_root
        self.marker = ""
        self._wanted: list[str] = []
        self._enabled_on_own: list[str] = []
        self._made: dict[str, V2Cgroup] = {}

    @property
    def enabled(self) -> tuple[str, ...]:
        """The controllers coserve's cgroup is given, and so the containers get."""
        return tuple(self._wanted)

    @property
    def missing(self) -> list[str]:
        return [c for c in WANTED if c not in self._wanted]

    @property
    def _base(self) -> Path:
        return under(self.mount, self.own)

    @property
    def _run(self) -> Path:
        return self._base / self.marker

    def start(self) -> None:
        self.marker = run_marker(self.run_root)
        wanted = self._wanted = [c for c in WANTED if c in controllers(self._base)]
        enabled = set((self._base / "cgroup.subtree_control").read_text().split())
        self._run.mkdir(exist_ok=True)
        if not is_host_root(self._base) and not set(wanted) <= enabled:
            (self._run / SUPERVISOR).mkdir(exist_ok=True)
            (self._run / SUPERVISOR / "cgroup.procs").write_text(str(os.getpid()))
        self._enabled_on_own = [c for c in wanted if c not in enabled]
        _subtree(self._base, "+", self._enabled_on_own)
        _subtree(self._run, "+", wanted)

    def create(self, name: str, limits: CgroupLimits) -> V2Cgroup:
        if check_name("cgroup name", name) == SUPERVISOR:
            raise ValueError(f"cgroup name: {name!r} is reserved for coserve itself")
        if limits.cpuset is not None:
            if not self.has_cpuset:
                raise OSError(f"cgroup {name}: the cpuset controller is not delegated to coserve, so CpuMode: pinned "
                              "cannot hold")  # fmt: skip
            _subtree(self._run, "+", ["cpuset"])  # only then: nothing else changes where no one pins
        (self._run / name).mkdir(exist_ok=True)
        cgroup = self._made[name] = V2Cgroup(name, self._run / name, self.mount, self.enabled)
        cgroup.apply(limits)
        return cgroup

    @property
    def has_cpuset(self) -> bool:
        return "cpuset" in controllers(self._run)

    def cleanup_stale(self) -> list[str]:
        stale = stale_dirs(self._base, self.run_root) + self._stale_scopes()
        for path in stale:
            remove_tree(path, kill_v2)
        return [path.name for path in stale]

    def _stale_scopes(self) -> list[Path]:
        """The systemd scopes (see `scope`) of earlier runs killed with their containers still there."""
        if not self._base.name.startswith(f"{self.run_root}.") or self._base.suffix != ".scope":
            return []
        siblings = self._base.parent.glob(f"{self.run_root}.*.scope")
        return sorted(p for p in siblings if p.is_dir() and is_stale(p.stem, self.run_root))

    def close(self) -> None:
        for cgroup in self._made.values():
            cgroup.remove()
        self._made.clear()
        leaf = self._run / SUPERVISOR
        try:
            if leaf.is_dir():  # hand the controllers back so that coserve may live in <own> again
                _subtree(self._run, "-", self._wanted)
                _subtree(self._base, "-", self._enabled_on_own)
                (self._base / "cgroup.procs").write_text(str(os.getpid()))
                leaf.rmdir()  # never killed: coserve's other processes (the router) live here too
            self._run.rmdir()
        except OSError as exc:
            _log.info("leaving %s in place (%s); the next run's cleanup removes it", self._run, exc)


def _subtree(cgroup: Path, sign: str, names: list[str]) -> None:
    # One write for all of them: the kernel applies it all or nothing.
    if names:
        (cgroup / "cgroup.subtree_control").write_text(" ".join(sign + name for name in names))
