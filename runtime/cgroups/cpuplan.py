"""Which cores each container may run on, decided once for the whole deployment.

Only `pinned` containers change anything: each gets ceil(Cpus) whole cores of its own, taken from
the top of the cores coserve may use, and every other container is confined to the cores left.
At least one core always stays unpinned: coserve itself (the front door, the supervisor) and the
unpinned containers run there. A deployment that asks for more is refused at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .cpu import CpuMode, format_cpus, pinned_cores


@dataclass(frozen=True)
class CpuPlanItem:
    hostname: str
    mode: CpuMode | None
    cpus: float | None


class CpuPlanError(ValueError):
    pass


def plan_cpusets(requests: Sequence[CpuPlanItem], host: Sequence[int]) -> dict[str, tuple[int, ...] | None]:
    """hostname -> its cpuset (None: unchanged, the whole set coserve has)."""
    pinned = [r for r in requests if r.mode == "pinned"]
    if not pinned:
        return {r.hostname: None for r in requests}
    free = sorted(host, reverse=True)
    wanted = sum(pinned_cores(r.cpus or 1) for r in pinned)
    if wanted > len(free) - 1:
        names = ", ".join(f"{r.hostname} ({pinned_cores(r.cpus or 1)})" for r in pinned)
        raise CpuPlanError(
            f"CpuMode: pinned asks for {wanted} whole cores ({names}) but coserve may use {len(free)} "
            f"(cpus {format_cpus(host)}) and keeps at least one for itself and the unpinned containers; "
            "use CpuMode: weight or quota, or fewer Cpus"
        )
    plan: dict[str, tuple[int, ...] | None] = {}
    for r in pinned:
        n = pinned_cores(r.cpus or 1)
        plan[r.hostname], free = tuple(sorted(free[:n])), free[n:]
    rest = tuple(sorted(free))
    return {r.hostname: plan.get(r.hostname, rest) for r in requests}
