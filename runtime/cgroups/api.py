"""The one cgroup interface the supervisor sees; backends live in `v1`, `v2` and `none`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .cpu import MODES, CpuMode

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(what: str, value: str) -> str:
    """Names become one directory level; refuse anything that could climb or nest."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not a valid cgroup name ([A-Za-z0-9][A-Za-z0-9_.-]*)")
    return value


@dataclass(frozen=True)
class CgroupLimits:
    """What one container may use. None means "not limited" for every field."""

    memory_bytes: int | None = None
    """Hard limit: v2 `memory.max`, v1 `memory.limit_in_bytes` (and `memsw`, so swap adds nothing).
    `memory.high` is deliberately not set: throttling a server near its limit makes it slow
    instead of failing it, and SageMaker's contract is a hard limit."""
    cpus: float | None = None
    """Fractional cores: v2 `cpu.max` "quota period", v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`."""
    cpu_weight: int | None = None
    """Relative share under contention, 1..10000 (default 100): v2 `cpu.weight`, v1 `cpu.shares`
    = weight*1024/100."""
    pids: int | None = None
    """Most tasks (processes and threads) at once: `pids.max`."""
    cpu_mode: CpuMode | None = None
    """How `cpus` applies (see `cpu`): weight, quota or pinned; None: quota with cpus, else weight."""
    cpuset: tuple[int, ...] | None = None
    """The cores it may run on (`cpuset.cpus`), from `cpuplan`; None: those coserve has."""
    memory_request_bytes: int | None = None
    """What admission reserved: protected from reclaim under pressure from outside the container,
    v2 `memory.low`, v1 `memory.soft_limit_in_bytes` (reclaimed down to it first under host pressure)."""
    oom_score_adj: int | None = None
    """-1000..1000, written for the container's first process (its children inherit it): who the
    OOM killer picks first when overcommitted limits meet real pressure (see runtime.admission)."""

    def __post_init__(self) -> None:
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise ValueError(f"memory_bytes: {self.memory_bytes!r} must be > 0")
        if self.memory_request_bytes is not None and self.memory_request_bytes < 0:
            raise ValueError(f"memory_request_bytes: {self.memory_request_bytes!r} must be >= 0")
        if self.oom_score_adj is not None and not -1000 <= self.oom_score_adj <= 1000:
            raise ValueError(f"oom_score_adj: {self.oom_score_adj!r} must be within -1000..1000")
        if self.cpus is not None and not self.cpus > 0:
            raise ValueError(f"cpus: {self.cpus!r} must be > 0")
        if self.cpu_weight is not None and not 1 <= self.cpu_weight <= 10000:
            raise ValueError(f"cpu_weight: {self.cpu_weight!r} must be within 1..10000")
        if self.pids is not None and self.pids < 1:
            raise ValueError(f"pids: {self.pids!r} must be >= 1")
        if self.cpu_mode is not None and self.cpu_mode not in MODES:
            raise ValueError(f"cpu_mode: {self.cpu_mode!r} must be one of {', '.join(MODES)}")
        if self.cpuset is not None and not self.cpuset:
            raise ValueError("cpuset: must name at least one CPU")


@dataclass(frozen=True)
class Stats:
    memory_bytes: int
    """Current usage."""
    memory_peak_bytes: int | None
    """High-water mark, None where the kernel does not keep one."""
    memory_limit_bytes: int | None
    """Effective limit including ancestors; None if unlimited."""
    cpu_usage_ns: int
    """Cumulative CPU time of everything that ran in the cgroup."""
    oom_kills: int
    """Cumulative count of OOM kills in this cgroup."""
    pids: int
    """Number of processes now in the cgroup."""
    # CPU throttling (cpu.stat): only a quota throttles; an operator sees here when a limit costs latency.
    cpu_throttled_periods: int = 0
    """Cumulative CFS periods in which the cgroup hit its quota (`nr_throttled`)."""
    cpu_throttled_ns: int = 0
    """Cumulative time its tasks waited for the next period (v1 `throttled_time`, v2 `throttled_usec`)."""


class Cgroup(Protocol):
    name: str

    def wrap(self, argv: list[str]) -> list[str]:
        """An argv that moves itself into this cgroup, then execs `argv` (fails with exit 125)."""
        ...

    def attach(self, pid: int) -> None:
        """Tell the cgroup the pid the supervisor spawned. Only the `none` backend needs it: it
        finds the container's processes from that pid's session and descendants."""
        ...

    def pids(self) -> list[int]: ...

    def stats(self) -> Stats: ...

    def kill(self) -> None:
        """SIGKILL every process in the cgroup and wait (bounded) until it is empty."""
        ...

    def remove(self) -> None:
        """Kill leftovers and remove the cgroup from every hierarchy. Idempotent."""
        ...


class Backend(Protocol):
    kind: str
    """"v2", "v1" or "none"."""

    @property
    def has_cpuset(self) -> bool:
        """Whether `CgroupLimits.cpuset` can be enforced (v1: a cpuset hierarchy; v2: the cpuset controller)."""
        ...

    def create(self, name: str, limits: CgroupLimits) -> Cgroup:
        """A cgroup for one container; an existing one of that name is reused, limits reapplied."""
        ...

    def cleanup_stale(self) -> list[str]:
        """Remove cgroups a crashed earlier run left behind (killing their processes first)."""
        ...

    def close(self) -> None:
        """Remove every cgroup this backend created, and its run directory."""
        ...
