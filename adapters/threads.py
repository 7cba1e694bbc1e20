"""Thread pools sized to a container's CPU allotment, not to the machine.

Framework servers size their pools from the cores they see (`os.cpu_count()`, the JVM's
`availableProcessors`), and every container sees the whole host: fifteen servers on two cores each
start pools for two cores or more, and their threads queue behind each other. The allotment is
what the container may count on:

- `Cpus` set: that many cores (a quota, a weight of that size, or that many pinned cores).
- no `Cpus`: its weight's share of the host, CpuWeight (default 100) / the sum of every
  container's weight x the cores coserve may run on.

A pool gets `threads(allotment)` = ceil(allotment), at least 1. The container's own `Environment`
wins over every variable set here, as it wins over all adapter environment.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

DEFAULT_WEIGHT = 100  # cgroup v2's default cpu.weight (v1: 1024 shares)
# Read by OpenMP (torch, TF's oneDNN), MKL, OpenBLAS, numexpr and the BLAS numpy links against.
POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
ALLOTMENT_VARIABLE = "COSERVE_CPU_ALLOTMENT"  # the figure itself, for servers that size their own pools


def host_cores() -> int:
    """Cores this process may run on: its affinity mask (a cpuset narrows it), not the machine's count."""
    return len(os.sched_getaffinity(0))


def allotment(cpus: float | None, weight: int | None, weights: Sequence[int | None], cores: int) -> float:
    """The cores one container may count on. `weights` are every container's CpuWeight (its own included)."""
    if cpus is not None:
        return min(cpus, float(cores))
    total = sum(w or DEFAULT_WEIGHT for w in weights) or DEFAULT_WEIGHT
    return (weight or DEFAULT_WEIGHT) / total * cores


def threads(allotment: float | None) -> int:
    """Threads for one pool: the allotment rounded up, at least 1 (None: unknown, 1)."""
    if allotment is None:
        return 1
    return max(1, math.ceil(round(allotment, 6)))  # 2.0000001 from float division is still 2


def pool_environment(allotment: float | None, per_pool: int | None = None) -> dict[str, str]:
    """OpenMP/MKL/BLAS pool sizes (`per_pool`, else threads(allotment)) and the allotment, as environment."""
    n = str(per_pool or threads(allotment))
    env = dict.fromkeys(POOL_VARIABLES, n)
    if allotment is not None:
        env[ALLOTMENT_VARIABLE] = f"{allotment:g}"
    return env
