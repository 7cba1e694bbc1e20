"""From an endpoint's snapshot (config + models) and its Coserve section to the runtime's `Deployment`.

The CreateModel request is what a deployment file holds already, so this builds that document and lets
`runtime.config.parse_deployment` validate it once, as it does a file: its problems (each naming the
field and the value) become one ValidationException.

An endpoint's own bounds ride on the Deployment (and from there on each supervisor unit): its containers must
pass /ping within the variant's ContainerStartupHealthCheckTimeoutInSeconds, else within the endpoint's tag
coserve:Server.StartupTimeout (the variant's field is SageMaker's own and comes with each config, so it wins),
else within the host's StartupTimeout; their fetch must end within the variant's ModelDataDownloadTimeoutInSeconds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from runtime.config import ConfigError, Deployment, parse_deployment
from runtime.control.errors import ValidationException
from runtime.control.records import Snapshot

MODEL_KEYS = ("ModelName", "PrimaryContainer", "Containers", "InferenceExecutionConfig")
PLACEHOLDER = "model-check"  # an endpoint name for checking a model on its own, before any endpoint names it
STARTUP = "ContainerStartupHealthCheckTimeoutInSeconds"
DOWNLOAD = "ModelDataDownloadTimeoutInSeconds"


def to_deployment(endpoint_name: str, snapshot: Snapshot, coserve: dict[str, Any] | None = None) -> Deployment:
    """The Deployment an endpoint runs. Raises ValidationException naming every bad field."""
    variant = snapshot.config["ProductionVariants"][0]
    own = dict(coserve or {})
    names = {"EndpointName": endpoint_name, "VariantName": variant["VariantName"], "Coserve": own}
    if "ModelName" not in variant:  # it hosts inference components: no containers of its own
        d = _parse({"PrimaryContainer": {"Image": "process"}}, names)
        return replace(d, containers=(), model_name="")
    d = _parse(snapshot.models[variant["ModelName"]], names)
    return replace(d, startup_timeout_s=_startup(variant, own, d), fetch_timeout_s=_seconds(variant.get(DOWNLOAD)))


def check_bounds(endpoint_name: str, snapshot: Snapshot, coserve: dict[str, Any] | None) -> None:
    """CreateEndpoint, UpdateEndpoint: the tag coserve:Server.StartupTimeout bounds the endpoint's own containers;
    one that hosts inference components has none (its components' copies start within the host's bound)."""
    variant = snapshot.config["ProductionVariants"][0]
    if "ModelName" not in variant and "StartupTimeout" in _server(coserve or {}):
        raise ValidationException(
            f"Tag coserve:Server.StartupTimeout: endpoint {endpoint_name} hosts inference components, whose copies "
            "start within the host's Coserve.Server.StartupTimeout; leave the tag out."
        )


def check_model(request: dict[str, Any]) -> None:
    """A CreateModel request coserve could run (with no Coserve section), or ValidationException."""
    _parse(request, {"EndpointName": PLACEHOLDER})


def _startup(variant: dict[str, Any], own: dict[str, Any], d: Deployment) -> float | None:
    """The variant's field, else the tag's value (parsed and checked as Coserve.Server.StartupTimeout)."""
    if variant.get(STARTUP) is not None:
        return _seconds(variant[STARTUP])
    return d.server.startup_timeout_s if "StartupTimeout" in _server(own) else None


def _server(own: dict[str, Any]) -> dict[str, Any]:
    server = own.get("Server")
    return server if isinstance(server, dict) else {}


def _seconds(value: Any) -> float | None:
    """An integer of seconds, 60 to 3600, as the wire checked it."""
    return None if value is None else float(value)


def _parse(model: dict[str, Any], extra: dict[str, Any]) -> Deployment:
    doc = {**{k: model[k] for k in MODEL_KEYS if k in model}, **extra}
    problems = _relative_paths(doc)
    try:
        deployment = parse_deployment(doc)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ValidationException("; ".join(problems))
    return deployment


def _relative_paths(doc: dict[str, Any]) -> list[str]:
    """A file's relative path means next to the file; through the API there is no file to be next to."""
    found = []
    containers = doc.get("Containers") or ([doc["PrimaryContainer"]] if "PrimaryContainer" in doc else [])
    for i, c in enumerate(containers):
        url = c.get("ModelDataUrl") if isinstance(c, dict) else None
        if isinstance(url, str) and "://" not in url and not Path(url).is_absolute():
            found.append(f"Containers[{i}].ModelDataUrl: a path must be absolute through the API (got {url!r})")
    return found
