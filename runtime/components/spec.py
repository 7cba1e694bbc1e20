"""A component's Specification as what the supervisor runs: one ContainerSpec per copy, its limits from
ComputeResourceRequirements.

MaxMemoryRequiredInMb is the copy's cgroup memory limit (MinMemoryRequiredInMb when there is no max),
MinMemoryRequiredInMb what admission reserves for it, NumberOfCpuCoresRequired its CPU weight (100 per core,
as cgroups count a default share) and the cores admission reserves; a CFS quota only with the tag
`coserve:CpuMode = quota`, since quotas throttle tails. The container itself is parsed as a deployment file's
PrimaryContainer, so images and artifacts mean what they mean there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime.config import ConfigError, ContainerSpec, parse_deployment
from runtime.config.model import ContainerLimits
from runtime.units import parse_duration

MIB = 2**20
IDLE_TAG = "coserve:IdleTimeout"
WAKE_TAG = "coserve:WakeTimeout"
CPU_MODE_TAG = "coserve:CpuMode"
COMPONENT_TAGS = (IDLE_TAG, WAKE_TAG, CPU_MODE_TAG)


class SpecError(ValueError):
    """The Specification cannot run here; the message names the field."""


def container_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The PrimaryContainer a Specification names: its model's single container, or its own Container."""
    if "Model" in spec:
        model = spec["Model"]
        containers = model.get("Containers") or [model["PrimaryContainer"]]
        if len(containers) != 1:
            raise SpecError(f"Specification.ModelName: model {spec['ModelName']} has {len(containers)} containers; "
                            "an inference component runs a model with exactly one")  # fmt: skip
        return {k: v for k, v in containers[0].items() if k != "ContainerHostname"}
    if "Container" in spec:
        c = spec["Container"]
        if "Image" not in c:
            raise SpecError("Specification.Container.Image: required")
        out: dict[str, Any] = {"Image": c["Image"], "Environment": c.get("Environment", {})}
        if "ArtifactUrl" in c:
            out["ModelDataUrl"] = c["ArtifactUrl"]
        return out
    raise SpecError("Specification: give ModelName or Container")


def copy_spec(spec: dict[str, Any], hostname: str, tags: dict[str, str] | None = None) -> ContainerSpec:
    """The ContainerSpec of one copy, named `hostname`. SpecError names what is wrong."""
    container = container_of(spec)
    url = container.get("ModelDataUrl")
    if isinstance(url, str) and "://" not in url and not url.startswith("/"):
        raise SpecError(f"ArtifactUrl: a path must be absolute through the API (got {url!r})")
    try:
        d = parse_deployment({"EndpointName": "component-check", "PrimaryContainer": container})
    except ConfigError as exc:
        raise SpecError("; ".join(exc.problems)) from exc
    return replace(d.containers[0], hostname=hostname, limits=limits(spec, tags or {}))


def limits(spec: dict[str, Any], tags: dict[str, str]) -> ContainerLimits:
    need = spec.get("ComputeResourceRequirements") or {}
    if "MinMemoryRequiredInMb" not in need:
        raise SpecError("Specification.ComputeResourceRequirements.MinMemoryRequiredInMb: required")
    low = int(need["MinMemoryRequiredInMb"])
    high = int(need.get("MaxMemoryRequiredInMb") or low)
    if high < low:
        raise SpecError(f"Specification.ComputeResourceRequirements.MaxMemoryRequiredInMb: {high} is below "
                        f"MinMemoryRequiredInMb {low}")  # fmt: skip
    if need.get("NumberOfAcceleratorDevicesRequired"):
        raise SpecError("Specification.ComputeResourceRequirements.NumberOfAcceleratorDevicesRequired: this host "
                        "schedules no accelerators")  # fmt: skip
    cores: float | None = need.get("NumberOfCpuCoresRequired")
    mode = tags.get(CPU_MODE_TAG, "weight")
    if mode not in ("weight", "quota"):
        raise SpecError(f"Tag {CPU_MODE_TAG}: weight or quota (got {mode!r})")
    if cores is None:
        return ContainerLimits(memory_bytes=high * MIB, memory_request_bytes=low * MIB)
    quota = mode == "quota"
    return ContainerLimits(
        memory_bytes=high * MIB, memory_request_bytes=low * MIB, cpu_weight=max(1, min(10000, round(cores * 100))),
        cpus=cores if quota else None, cpu_mode="quota" if quota else None, cpu_request=cores,
    )  # fmt: skip


def timeouts(tags: dict[str, str], startup_s: float) -> tuple[float | None, float]:
    """(IdleTimeout or None, WakeTimeout) from the component's `coserve:` tags; SpecError naming a bad one."""
    try:
        idle = parse_duration(tags[IDLE_TAG]) if IDLE_TAG in tags else None
        wake = parse_duration(tags[WAKE_TAG]) if WAKE_TAG in tags else startup_s
    except ValueError as exc:
        raise SpecError(f"Tag {IDLE_TAG} or {WAKE_TAG}: {exc}") from exc
    if idle is not None and idle <= 0:
        raise SpecError(f"Tag {IDLE_TAG}: must be above 0 (got {tags[IDLE_TAG]!r})")
    return idle, wake
