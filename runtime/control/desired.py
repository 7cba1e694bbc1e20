"""From an endpoint's snapshot (config + models) and its Coserve section to the runtime's `Deployment`.

The CreateModel request is what a deployment file holds already, so this builds that document and lets
`runtime.config.parse_deployment` validate it once, as it does a file: its problems (each naming the
field and the value) become one ValidationException. A variant's ContainerStartupHealthCheckTimeoutInSeconds
becomes Coserve.Server.StartupTimeout unless the Coserve section sets one.
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


def to_deployment(endpoint_name: str, snapshot: Snapshot, coserve: dict[str, Any] | None = None) -> Deployment:
    """The Deployment an endpoint runs. Raises ValidationException naming every bad field."""
    variant = snapshot.config["ProductionVariants"][0]
    own = dict(coserve or {})
    if "ModelName" not in variant:  # it hosts inference components: no containers of its own
        placeholder = {"PrimaryContainer": {"Image": "process"}}
        d = _parse(placeholder, {"EndpointName": endpoint_name, "VariantName": variant["VariantName"], "Coserve": own})
        return replace(d, containers=(), model_name="")
    model = snapshot.models[variant["ModelName"]]
    timeout = variant.get("ContainerStartupHealthCheckTimeoutInSeconds")
    if timeout is not None:
        server = dict(own.get("Server") or {})
        server.setdefault("StartupTimeout", f"{timeout}s")
        own["Server"] = server
    return _parse(model, {"EndpointName": endpoint_name, "VariantName": variant["VariantName"], "Coserve": own})


def check_model(request: dict[str, Any]) -> None:
    """A CreateModel request coserve could run (with no Coserve section), or ValidationException."""
    _parse(request, {"EndpointName": PLACEHOLDER})


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
