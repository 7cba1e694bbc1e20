"""`coserve plan --emit DIR`: per instance of the plan, the `Coserve` section of its deployment file.

`DIR/instance-<n>.yaml` holds `Coserve.Server.MemoryReserve` and, per model, `Coserve.Containers.<hostname>`
with its MemoryRequest, Memory, CpuRequest (and Cpus where the input gave one), under a comment header
naming the instance type, the headroom and the figures they came from. The user merges it into a
deployment file that gives each hostname its `Containers` entry (Image, ModelDataUrl, Command...).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from runtime.cli.plan.model import Placement, Plan
from runtime.cli.plan.sizing import LIMIT_OVER_REQUEST, Sizing
from runtime.units import format_size

MIB = 2**20


class EmitError(ValueError):
    pass


def fragment(plan: Plan, n: int, source: str) -> str:
    """The file for placement `n` (1-based): the comment header, then the Coserve section."""
    p = plan.placements[n - 1]
    return "\n".join(_header(plan, p, n, source)) + "\n" + yaml.safe_dump(section(plan, p), sort_keys=False)


def section(plan: Plan, p: Placement) -> dict[str, Any]:
    """{"Coserve": {...}}: what a deployment file gets from this placement."""
    return {"Coserve": {"Server": {"MemoryReserve": _mib(plan.memory_reserve_bytes)},
                        "Containers": {s.hostname: _limits(s) for s in p.containers}}}  # fmt: skip


def refusal(plan: Plan, p: Placement) -> str | None:
    """Why this placement's requests would not pass admission on its instance; None when they do.

    The packer leaves room for them (sizing.py), but rounding each request up to a MiB and a millicore can
    pass an instance packed to the last byte with --headroom 0: then the plan says so instead."""
    memory = sum(s.memory_request_bytes for s in p.containers) + plan.memory_reserve_bytes
    cpus = sum(s.cpu_request for s in p.containers)
    if memory <= p.memory_capacity_bytes and cpus <= p.vcpu + 1e-9:
        return None
    return (f"{p.instance} ({', '.join(p.models)}): requests {format_size(memory)} with the reserve and "
            f"{cpus:g} cores, for {format_size(p.memory_capacity_bytes)} and {p.vcpu} vCPUs; "
            "raise --headroom")  # fmt: skip


def write(plan: Plan, directory: Path, source: str) -> list[Path]:
    """Writes every file or none (each whole, by rename); EmitError when a placement would not be admitted."""
    problems = [r for p in plan.placements if (r := refusal(plan, p)) is not None]
    if problems:
        raise EmitError("; ".join(problems))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(1, len(plan.placements) + 1):
        paths.append(directory / f"instance-{n}.yaml")
        _write_whole(paths[-1], fragment(plan, n, source))
    return paths


def _limits(s: Sizing) -> dict[str, Any]:
    out: dict[str, Any] = {"MemoryRequest": _mib(s.memory_request_bytes), "Memory": _mib(s.memory_limit_bytes),
                           "CpuRequest": s.cpu_request}  # fmt: skip
    if s.cpu_limit is not None:
        out["Cpus"] = s.cpu_limit
    return out


def _mib(n: int) -> str:
    return f"{n // MIB}MiB" if n % MIB == 0 else str(n)


def _header(plan: Plan, p: Placement, n: int, source: str) -> list[str]:
    keep = 1 - plan.headroom
    lines = [
        f"# coserve plan: instance {n} of {len(plan.placements)}, {p.instance} (EC2 {p.ec2}): {p.vcpu} vCPUs, "
        f"{format_size(p.memory_capacity_bytes)}",
        f"# Headroom {plan.headroom:.0%}: MemoryRequest = peak / {keep:.2f}, up to a whole MiB; CpuRequest = "
        f"CPU peak / {keep:.2f}, up to 0.001 core",
        f"# Memory (the limit) = {LIMIT_OVER_REQUEST}x the request, at most the instance's memory less MemoryReserve",
        "# Cpus unset (CPU shared by weight) unless the input gave a CPU limit",
        f"# Figures from {source}:",
    ]
    for s in p.containers:
        renamed = f" (hostname {s.hostname})" if s.hostname != s.model else ""
        rps = f", {s.rps:g} requests/s" if s.rps is not None else ""
        lines.append(f"#   {s.model}{renamed}: peak memory {format_size(s.peak_memory_bytes)}, "
                     f"peak CPU {s.peak_cpus:.3g} cores{rps}")  # fmt: skip
    lines.append("# Merge into a deployment file whose Containers list each hostname (Image, Command, ...).")
    return lines


def _write_whole(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        Path(tmp).chmod(0o644)  # mkstemp's 0600 would hide the file from whoever deploys it
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
