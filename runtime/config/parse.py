"""Validate a deployment document once, collecting every problem with its field and value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from adapters import get_adapter, image_problems, resolve_image
from runtime.auth.build import build_authenticator
from runtime.auth.policy import PolicyError
from runtime.cgroups.cpu import MODES as CPU_MODES
from runtime.config.model import ContainerLimits, ContainerSpec, Deployment
from runtime.config.settings import parse_metrics, parse_server, parse_storage
from runtime.config.sources import parse_additional, parse_model_data
from runtime.config.validate import NAME, Problems
from runtime.units import format_size

ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TOP_KEYS = {
    "EndpointName", "VariantName", "ModelName", "Containers", "PrimaryContainer",
    "InferenceExecutionConfig", "ExecutionRoleArn", "Tags", "VpcConfig", "EnableNetworkIsolation",
    "Coserve",
}  # fmt: skip
CONTAINER_KEYS = {
    "ContainerHostname", "Image", "ImageConfig", "Mode", "ModelDataUrl", "ModelDataSource",
    "Environment", "ModelPackageName", "InferenceSpecificationName", "MultiModelConfig",
    "AdditionalModelDataSources",
}  # fmt: skip
LIMIT_KEYS = {"Memory", "MemoryRequest", "Cpus", "CpuRequest", "CpuWeight", "Pids", "CpuMode"}
IDLE_KEYS = {"IdleTimeout", "WakeTimeout"}  # Coserve.Containers.<hostname>: scale to zero when idle, wake on request
IMAGE_PULL = ("missing", "always", "never")  # Coserve.Containers.<hostname>.ImagePull, for OCI images
T = TypeVar("T")
N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """Every problem of a deployment file, one per line, each naming the field and the value."""

    def __init__(self, problems: list[str], source: Path | None = None) -> None:
        where = f" in {source}" if source else ""
        super().__init__(f"invalid deployment{where}:\n  " + "\n  ".join(problems))
        self.problems = problems


def parse_deployment(doc: object, source: Path | None = None) -> Deployment:
    p = Problems()
    if not isinstance(doc, dict):
        raise ConfigError([f"the document must be a mapping, got {type(doc).__name__}"], source)
    for key in sorted(set(doc) - TOP_KEYS, key=str):
        p.add(key, "unknown key", doc[key])
    # A host file: only `Coserve` (server, storage, auth, metrics), no endpoint of its own; endpoints come through
    # the SageMaker API (`coserve serve host.yaml --state-dir DIR`).
    host_only = not set(doc) & (TOP_KEYS - {"Coserve"})
    endpoint = "" if host_only else p.name("EndpointName", doc.get("EndpointName"), required=True)
    variant = p.name("VariantName", doc.get("VariantName", "AllTraffic"), required=True)
    model_name = p.string("ModelName", doc.get("ModelName", endpoint or "model"))
    mode = _mode(p, doc.get("InferenceExecutionConfig"))
    own = p.mapping("Coserve", doc.get("Coserve", {}))
    server = parse_server(p, p.mapping("Coserve.Server", own.get("Server", {})))
    storage = parse_storage(p, p.mapping("Coserve.Storage", own.get("Storage", {})))
    metrics = parse_metrics(p, p.mapping("Coserve.Metrics", own.get("Metrics", {})))
    raw = [] if host_only else _raw_containers(p, doc)
    containers = _containers(p, raw, mode, own)
    _check_pipeline(p, doc, containers)
    if len(containers) > server.max_containers:
        p.add("Containers", f"{len(containers)} containers exceed Coserve.Server.MaxContainers", server.max_containers)
    _check_environment_total(p, containers)
    _check_port_block(p, containers, server.port_block)
    for key in sorted(set(own) - {"Server", "Storage", "Containers", "Defaults", "Auth", "Metrics"}, key=str):
        p.add(f"Coserve.{key}", "unknown key", own[key])
    auth = own.get("Auth")
    if auth is not None:
        _check_auth(p, auth, source)
    if p.problems:
        raise ConfigError(p.problems, source)
    return Deployment(
        endpoint_name=str(endpoint), variant_name=str(variant), model_name=str(model_name),
        mode=mode, containers=tuple(containers), server=server,
        storage=storage, auth=auth, source=source, metrics=metrics,
    )  # fmt: skip


def _check_pipeline(p: Problems, doc: dict[str, Any], containers: list[ContainerSpec]) -> None:
    """An explicit Serial mode is an inference pipeline, which SageMaker documents as 2 to 15 containers
    (its multi-container guide asks for more than one container with InferenceExecutionConfig; botocore's
    model only caps Containers at 15). One container without InferenceExecutionConfig is a plain
    single-container model, as PrimaryContainer. Direct with one container stays accepted: it changes
    nothing but requiring the target header, which is how a test addresses one container by name."""
    cfg = doc.get("InferenceExecutionConfig")
    if isinstance(cfg, dict) and cfg.get("Mode") == "Serial" and len(containers) == 1:
        p.add("InferenceExecutionConfig.Mode", "Serial is an inference pipeline of 2 to 15 containers; for one "
              "container leave out InferenceExecutionConfig", len(containers))  # fmt: skip


def _check_auth(p: Problems, auth: object, source: Path | None) -> None:
    if not isinstance(auth, dict):
        p.add("Coserve.Auth", "must be a mapping", auth)
        return
    odd = [key for key in auth if not isinstance(key, str)]
    if odd:  # runtime.auth sorts its keys by name; say so here rather than let it fail on a mixed set
        p.add("Coserve.Auth", "keys must be strings", odd)
        return
    try:
        build_authenticator(auth, source.parent if source else None)
    except PolicyError as exc:
        p.problems.extend(f"Coserve.Auth.{line}" for line in exc.problems)


def _mode(p: Problems, cfg: object) -> Any:
    if cfg is None:
        return "Serial"  # SageMaker's default
    if not isinstance(cfg, dict) or "Mode" not in cfg:
        p.add("InferenceExecutionConfig", "must be a mapping with Mode", cfg)
        return "Serial"
    if cfg["Mode"] not in ("Direct", "Serial"):
        p.add("InferenceExecutionConfig.Mode", "must be Direct or Serial", cfg["Mode"])
        return "Serial"
    return cfg["Mode"]


def _raw_containers(p: Problems, doc: dict[str, Any]) -> list[Any]:
    if "Containers" in doc and "PrimaryContainer" in doc:
        p.add("PrimaryContainer", "give either Containers or PrimaryContainer, not both", "both")
    if "PrimaryContainer" in doc:
        return [{**p.mapping("PrimaryContainer", doc["PrimaryContainer"]), "ContainerHostname": "primary"}]
    raw = doc.get("Containers")
    if not isinstance(raw, list) or not raw:
        p.add("Containers", "must be a non-empty list", raw)
        return []
    return raw


def _containers(p: Problems, raw: list[Any], mode: str, own: dict[str, Any]) -> list[ContainerSpec]:
    named = [isinstance(c, dict) and "ContainerHostname" in c for c in raw]
    if mode == "Direct" and not all(named):
        for i, ok in enumerate(named):
            if not ok:
                p.add(f"Containers[{i}].ContainerHostname", "required in Direct mode", None)
    elif any(named) and not all(named):
        p.add("Containers", "if any container has a ContainerHostname, all must", [int(n) for n in named])
    specs = [_container(p, i, c, own) for i, c in enumerate(raw)]
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.hostname in seen:
            p.add(
                f"Containers[{spec.index}].ContainerHostname",
                f"duplicates Containers[{seen[spec.hostname]}]",
                spec.hostname,
            )
        seen.setdefault(spec.hostname, spec.index)
    per = p.mapping("Coserve.Containers", own.get("Containers", {}))
    for name in sorted(set(per) - set(seen), key=str):
        p.add(f"Coserve.Containers.{name}", "names no container", name)
    return specs


def _container(p: Problems, i: int, raw: object, own: dict[str, Any]) -> ContainerSpec:
    at = f"Containers[{i}]"
    c = p.mapping(at, raw)
    for key in sorted(set(c) - CONTAINER_KEYS, key=str):
        p.add(f"{at}.{key}", "unknown key", c[key])
    hostname = c.get("ContainerHostname", f"container-{i + 1}")
    if not isinstance(hostname, str) or not NAME.match(hostname):
        p.add(f"{at}.ContainerHostname", "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", hostname)
        hostname = str(hostname)
    extra = _settings_for(p, own, hostname)
    image = p.string(f"{at}.Image", c.get("Image"), required=True) or ""
    adapter = resolve_image(image) if image else None
    if image and adapter is None:
        p.add(f"{at}.Image", "unknown image: expected one of process, torchserve, tensorflow-serving, a SageMaker "
              "tensorflow-inference/pytorch-inference image URI, or an OCI image reference (registry/name:tag)",
              image)  # fmt: skip
    for problem in image_problems(image):
        p.add(f"{at}.Image", problem, image)
    pull = extra.get("ImagePull", "missing")
    if pull not in IMAGE_PULL:
        p.add(f"Coserve.Containers.{hostname}.ImagePull", f"must be one of {', '.join(IMAGE_PULL)}", pull)
    command = _command(p, f"Coserve.Containers.{hostname}.Command", extra.get("Command"))
    if adapter is not None:
        for problem in adapter.check(command):
            p.add(f"Coserve.Containers.{hostname}.Command", problem, command)
    url, data = parse_model_data(p, at, c)
    return ContainerSpec(
        hostname=hostname, index=i, image=image, adapter=adapter.name if adapter else "",
        model_data_url=url, model_data=data,
        additional_sources=parse_additional(p, f"{at}.AdditionalModelDataSources", c.get("AdditionalModelDataSources")),
        environment=_environment(p, f"{at}.Environment", c.get("Environment", {})),
        command=command, limits=_limits(p, f"Coserve.Containers.{hostname}", extra),
        image_pull=str(pull), idle_timeout_s=_timeout(p, f"Coserve.Containers.{hostname}.IdleTimeout", extra),
        wake_timeout_s=_timeout(p, f"Coserve.Containers.{hostname}.WakeTimeout", extra),
    )  # fmt: skip


def _timeout(p: Problems, at: str, raw: dict[str, Any]) -> float | None:
    key = at.rpartition(".")[2]
    if key not in raw:
        return None
    value = p.convert(at, raw[key], p.duration)
    if value is not None and value <= 0:
        p.add(at, "must be above 0", raw[key])
        return None
    return value


def _settings_for(p: Problems, own: dict[str, Any], hostname: str) -> dict[str, Any]:
    defaults = p.mapping("Coserve.Defaults", own.get("Defaults", {}))
    for key in sorted(set(defaults) - LIMIT_KEYS, key=str):
        p.add(f"Coserve.Defaults.{key}", f"unknown key (expected one of {sorted(LIMIT_KEYS)})", defaults[key])
    per = p.mapping("Coserve.Containers", own.get("Containers", {}))
    mine = p.mapping(f"Coserve.Containers.{hostname}", per.get(hostname, {}))
    for key in sorted(set(mine) - LIMIT_KEYS - IDLE_KEYS - {"Command", "ImagePull"}, key=str):
        p.add(f"Coserve.Containers.{hostname}.{key}", "unknown key", mine[key])
    return {**{k: v for k, v in defaults.items() if k in LIMIT_KEYS}, **mine}


def _command(p: Problems, at: str, raw: object) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(a, str) and a for a in raw):
        p.add(at, "must be a non-empty list of strings", raw)
        return None
    return tuple(raw)


def _environment(p: Problems, at: str, raw: object) -> dict[str, str]:
    env = p.mapping(at, raw)
    if len(env) > 100:
        p.add(at, "has more than 100 entries", len(env))
    out: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not ENV_KEY.match(key) or len(key) > 1024:
            p.add(f"{at}.{key}", "key must match [a-zA-Z_][a-zA-Z0-9_]* (at most 1024)", key)
        elif not isinstance(value, str | int | float) or isinstance(value, bool) or len(str(value)) > 1024:
            p.add(f"{at}.{key}", "value must be a string of at most 1024 characters", value)
        else:
            out[key] = str(value)
    return out


def _check_port_block(p: Problems, containers: list[ContainerSpec], block: int) -> None:
    for c in containers:
        needed = get_adapter(c.adapter).safe_ports_needed if c.adapter else 0
        if needed > block - 1:
            p.add("Coserve.Server.PortBlock", f"container {c.hostname} ({c.adapter}) needs {needed} safe ports "
                  "besides its bind port", block)  # fmt: skip


def _check_environment_total(p: Problems, containers: list[ContainerSpec]) -> None:
    total = sum(len(k) + len(v) for c in containers for k, v in c.environment.items())
    if total > 32 * 1024:
        p.add("Containers[*].Environment", "keys and values of all containers exceed 32 KiB", total)


def _limits(p: Problems, at: str, raw: dict[str, Any]) -> ContainerLimits:
    def get(key: str, conv: Callable[[Any], T], ok: Callable[[T], bool], rule: str) -> T | None:
        if key not in raw:
            return None
        value = p.convert(f"{at}.{key}", raw[key], conv)
        if value is not None and not ok(value):
            p.add(f"{at}.{key}", rule, raw[key])
            return None
        return value

    memory = get("Memory", p.size, lambda v: v >= 4 * 2**20, "must be at least 4MiB")
    cpus = get("Cpus", float, lambda v: 0.01 <= v <= 1024, "must be between 0.01 and 1024 cores")
    memory_request = get("MemoryRequest", p.size, lambda v: v >= 0, "must be 0 or more")
    cpu_request = get("CpuRequest", float, lambda v: 0 <= v <= 1024, "must be between 0 and 1024 cores")
    limits = ContainerLimits(
        memory_bytes=memory, cpus=cpus,
        memory_request_bytes=_request(p, at, "MemoryRequest", memory_request, "Memory", memory, raw),
        cpu_request=_request(p, at, "CpuRequest", cpu_request, "Cpus", cpus, raw),
        cpu_weight=get("CpuWeight", p.integer, lambda v: 1 <= v <= 10000, "must be between 1 and 10000"),
        pids=get("Pids", p.integer, lambda v: v >= 8, "must be at least 8"),
        cpu_mode=get("CpuMode", str, lambda v: v in CPU_MODES, f"must be one of {', '.join(CPU_MODES)}"),  # type: ignore[arg-type]
    )  # fmt: skip
    if limits.cpu_mode in ("pinned", "quota") and limits.cpus is None:
        needs = "how many whole cores to pin" if limits.cpu_mode == "pinned" else "the cap, in cores"
        p.add(f"{at}.CpuMode", f"{limits.cpu_mode} needs Cpus ({needs})", limits.cpu_mode)
    return limits


def _request(p: Problems, at: str, key: str, request: N | None, name: str, limit: N | None,
             raw: dict[str, Any]) -> N | None:  # fmt: skip
    """A request defaults to its limit (admission then reserves the whole limit, as before requests
    existed); one above its limit could never be used, so it is a mistake in the file."""
    if request is None:
        return limit
    if limit is not None and request > limit:
        shown = format_size(limit) if isinstance(limit, int) else f"{limit:g} cores"
        p.add(f"{at}.{key}", f"must not exceed {name} ({shown})", raw[key])
        return limit
    return request
