"""CPU isolation modes, as figures both backends write: a quota, a weight, a cpuset.

- `weight` (work-conserving): no cap; under contention CPU time is shared in proportion to the
  weights (CpuWeight, else Cpus x 100, else 100). An idle neighbour's cores are used, so latency
  is best on average, but a busy neighbour can take up to its share from you.
- `quota` (hard cap, CFS bandwidth): at most Cpus cores per 100 ms period, even on an idle host.
  Predictable, but a burst that spends the quota early waits for the next period: throttling
  (cpu.stat `nr_throttled`, `throttled_time`) shows up as p99 latency.
- `pinned`: ceil(Cpus) whole cores of its own (cpuset.cpus), which no other container uses. No
  interference and warm caches, but the cores idle when it does; needs cores to spare.

Without CpuMode: `quota` where Cpus is set (what coserve has always done), else `weight`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

CpuMode = Literal["weight", "quota", "pinned"]
MODES: tuple[CpuMode, ...] = ("weight", "quota", "pinned")
PERIOD_US = 100_000
DEFAULT_WEIGHT = 100


def effective_mode(mode: CpuMode | None, cpus: float | None) -> CpuMode:
    return mode or ("quota" if cpus is not None else "weight")


def quota_us(mode: CpuMode | None, cpus: float | None) -> int | None:
    """The CFS quota per PERIOD_US, or None for no cap (only `quota` caps)."""
    if effective_mode(mode, cpus) != "quota" or cpus is None:
        return None
    return max(1000, round(cpus * PERIOD_US))


def weight(mode: CpuMode | None, cpus: float | None, cpu_weight: int | None) -> int:
    """cgroup v2 cpu.weight (1..10000). In `weight` mode a Cpus without CpuWeight becomes Cpus x 100."""
    if cpu_weight is not None:
        return cpu_weight
    if effective_mode(mode, cpus) == "weight" and cpus is not None:
        return min(10000, max(1, round(cpus * DEFAULT_WEIGHT)))
    return DEFAULT_WEIGHT


def shares(mode: CpuMode | None, cpus: float | None, cpu_weight: int | None) -> int:
    """cgroup v1 cpu.shares for the same weight (100 -> 1024, at least 2)."""
    return max(2, weight(mode, cpus, cpu_weight) * 1024 // DEFAULT_WEIGHT)


def pinned_cores(cpus: float) -> int:
    return max(1, math.ceil(round(cpus, 6)))


def format_cpus(cpus: Iterable[int]) -> str:
    """cpuset.cpus syntax: "0-3,6"."""
    runs: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if runs and runs[-1][-1] == cpu - 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def parse_cpus(text: str) -> list[int]:
    """The reverse of format_cpus ("" is none)."""
    cpus: list[int] = []
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
