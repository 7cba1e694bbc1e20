"""What the host can still reserve for components, as the supervisor side publishes it for the API.

The supervisor's admission ledger lives in the supervisor's process; the control plane may run in gunicorn
workers. So the supervisor side writes `capacity.json` in the state directory (atomically, on every change):
the memory still free to requests, and what each component's copies hold now. The API judges a create or
update against it, counting what other components were promised but do not hold yet (they are starting).
Copies stopped by idleness hold nothing and are promised nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runtime.published import write_atomic
from runtime.units import format_size

FILE = "capacity.json"
MIB = 2**20


@dataclass(frozen=True)
class Published:
    free_bytes: int  # capacity less coserve's reserve less every request held now
    capacity_bytes: int
    source: str  # "host memory", or coserve's own cgroup limit
    held: dict[str, int] = field(default_factory=dict)  # lower-cased component name -> bytes its copies hold
    idle: list[str] = field(default_factory=list)  # lower-cased names of components scaled to zero by idleness
    free_cpus: float | None = None  # cores not requested yet; None: not published (memory is judged alone)
    cpus: float = 0.0
    held_cpus: dict[str, float] = field(default_factory=dict)  # lower-cased component name -> cores held


def write(state_dir: Path, published: Published) -> None:
    write_atomic(state_dir / FILE, json.dumps(asdict(published)))


def read(state_dir: Path) -> Published | None:
    """None when no supervisor side publishes (a host whose isolation keeps no ledger): nothing to judge by."""
    try:
        return Published(**json.loads((state_dir / FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def request_bytes(spec: Mapping[str, Any]) -> int:
    return int(spec.get("ComputeResourceRequirements", {}).get("MinMemoryRequiredInMb", 0)) * MIB


def request_cpus(spec: Mapping[str, Any]) -> float:
    return float(spec.get("ComputeResourceRequirements", {}).get("NumberOfCpuCoresRequired") or 0.0)


def refusal(p: Published, components: Iterable[Any], name: str, spec: Mapping[str, Any], copies: int) -> str | None:
    """Why `copies` copies of `spec` for component `name` do not fit, or None. `components`: every stored one."""
    others = [c for c in components if c.name.lower() != name.lower() and c.name.lower() not in p.idle
              and c.status not in ("Deleting", "Failed")]  # fmt: skip
    return _memory(p, others, name, spec, copies) or _cpus(p, others, name, spec, copies)


def _cpus(p: Published, others: list[Any], name: str, spec: Mapping[str, Any], copies: int) -> str | None:
    need = copies * request_cpus(spec)
    if p.free_cpus is None or need == 0:
        return None
    promised = sum(max(0.0, c.desired * request_cpus(c.spec) - p.held_cpus.get(c.name.lower(), 0.0)) for c in others)
    free = p.free_cpus + p.held_cpus.get(name.lower(), 0.0) - promised
    if need <= free + 1e-9:
        return None
    return (
        f"Inference component {name} needs {copies} cop{'y' if copies == 1 else 'ies'} x NumberOfCpuCoresRequired "
        f"{request_cpus(spec):g} = {need:g} cores, but {max(free, 0.0):g} of {p.cpus:g} are free for it. Lower "
        "CopyCount or NumberOfCpuCoresRequired, or delete or scale down other components."
    )


def _memory(p: Published, others: list[Any], name: str, spec: Mapping[str, Any], copies: int) -> str | None:
    need = copies * request_bytes(spec)
    promised = sum(max(0, c.desired * request_bytes(c.spec) - p.held.get(c.name.lower(), 0)) for c in others)
    free = p.free_bytes + p.held.get(name.lower(), 0) - promised
    if need <= free:
        return None
    each = request_bytes(spec) // MIB
    return (
        f"Inference component {name} needs {copies} cop{'y' if copies == 1 else 'ies'} x MinMemoryRequiredInMb "
        f"{each} = {format_size(need)} of memory, but {format_size(max(free, 0))} is free for it "
        f"(of {format_size(p.capacity_bytes)} {p.source}, less coserve's reserve and what other containers and "
        f"components reserve{f', {format_size(promised)} of it for copies still starting' if promised else ''}). "
        "Lower CopyCount or MinMemoryRequiredInMb, or delete or scale down other components."
    )
