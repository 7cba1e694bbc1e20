"""Each placed model's requests and limits: what the JSON plan lists and `--emit` writes.

MemoryRequest is the measured peak with the plan's headroom kept free above it: peak / (1 - headroom),
up to a whole MiB (20% headroom: x1.25, as the consolidation benchmark sizes its scenario B). This reads
`--headroom` as it already reads for packing, the fraction left free at peak, and it keeps every bin
admissible: the packer fits the peaks within (1 - headroom) of the instance less coserve's reserve, so
the requests fit within the instance less the reserve.

Memory, the cgroup limit, is twice the request (the benchmark's own ratio): a model whose peak doubles
(a bigger batch, a slow leak) still runs while admission counts only the request; a fixed margin would
be too tight for big models and loose for small ones. It is capped at the instance's memory less
coserve's reserve, since no container can get more there. CpuRequest is the CPU peak with the same
headroom, up to a millicore (Kubernetes' unit; coarser steps would add up past a CPU-full bin); Cpus
stays unset (CPU shared by weight) unless the input gave a CPU limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from runtime.cli.plan.catalog import Instance
from runtime.cli.plan.model import Workload

MIB = 2**20
LIMIT_OVER_REQUEST = 2
MIN_LIMIT_BYTES = 4 * MIB  # the least Memory coserve's parser accepts
_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")


@dataclass(frozen=True)
class Sizing:
    model: str  # the name in the input
    hostname: str  # the container's hostname in the emitted file: the name made hostname-safe
    memory_request_bytes: int  # MemoryRequest
    memory_limit_bytes: int  # Memory
    cpu_request: float  # CpuRequest, cores
    cpu_limit: float | None  # Cpus; None: unset, CPU shared by weight
    peak_memory_bytes: int  # the figures they came from
    peak_cpus: float
    rps: float | None


def size_container(w: Workload, hostname: str, instance: Instance, headroom: float, reserve_bytes: int) -> Sizing:
    free = 1.0 - headroom
    request = max(1, math.ceil(w.memory_bytes / free / MIB)) * MIB
    limit = max(MIN_LIMIT_BYTES, min(request * LIMIT_OVER_REQUEST, instance.memory_bytes - reserve_bytes))
    cpu = max(math.ceil(round(w.cpus / free * 1000, 6)) / 1000, 0.001)
    if w.cpu_limit is not None:  # a request above the quota could never be used
        cpu = min(cpu, w.cpu_limit)
    return Sizing(w.name, hostname, request, max(limit, request), cpu, w.cpu_limit, w.memory_bytes, w.cpus, w.rps)


def hostnames(names: Sequence[str]) -> list[str]:
    """Each name as a container hostname ([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}); a clash gets -2, -3, ..."""
    out: list[str] = []
    for name in names:
        base = _UNSAFE.sub("-", name).strip("-")[:60].strip("-") or "model"
        candidate, n = base, 1
        while candidate in out:
            n += 1
            candidate = f"{base}-{n}"
        out.append(candidate)
    return out
