"""Each container's CPU allotment, the figure its adapter sizes thread pools from (see adapters.threads).

Its `Cpus` where set; else its weight's share (the cgroup weight: CpuWeight, or Cpus x 100 in weight
mode, or 100) of the cores coserve may use that no container has pinned.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.threads import allotment
from runtime.cgroups.cpu import pinned_cores, weight
from runtime.config import ContainerSpec


def allotments(specs: Sequence[ContainerSpec], cores: int) -> dict[str, float]:
    """By hostname, for one endpoint's containers."""
    return {s.hostname: share for s, share in zip(specs, allotment_list(specs, cores), strict=True)}


def allotment_list(specs: Sequence[ContainerSpec], cores: int) -> list[float]:
    """In the order of `specs`, which may repeat hostnames (two generations of one endpoint side by side)."""
    shared = [s.limits for s in specs if s.limits.cpu_mode != "pinned"]
    left = max(1, cores - sum(pinned_cores(s.limits.cpus or 1) for s in specs if s.limits.cpu_mode == "pinned"))
    weights = [weight(lim.cpu_mode, lim.cpus, lim.cpu_weight) for lim in shared]
    return [
        allotment(s.limits.cpus, weight(s.limits.cpu_mode, s.limits.cpus, s.limits.cpu_weight), weights, left)
        for s in specs
    ]
