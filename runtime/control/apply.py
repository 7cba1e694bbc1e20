"""A deployment file as desired state: create its endpoint, or update it when the file changed.

The file is a CreateModel request plus EndpointName, VariantName and Coserve. Models and endpoint configs
are immutable, so each version of the file gets its own, named after a digest of what it asks for
(`<ModelName>-<digest>`, `<EndpointName>-<digest>`): an unchanged file finds its names in use and changes
nothing; a changed one creates new ones and updates the endpoint (blue/green, as UpdateEndpoint does).
Every request goes through the same validation and operations as the API's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from runtime.control import desired, unsupported
from runtime.control.errors import ValidationException
from runtime.control.ops import Operations
from runtime.control.records import Snapshot
from runtime.control.wire import Wire

MODEL_KEYS = ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "Tags", "VpcConfig",
              "EnableNetworkIsolation")  # fmt: skip
Outcome = Literal["created", "updated", "unchanged"]


def apply_document(ops: Operations, wire: Wire, doc: dict[str, Any], base_dir: Path | None = None) -> Outcome:
    """`wire` is loaded (Wire.load); relative ModelDataUrl paths resolve against `base_dir` (the file's folder)."""
    endpoint = doc.get("EndpointName")
    if not isinstance(endpoint, str):
        raise ValidationException("EndpointName: required in a deployment file.")
    model = {k: _absolute(k, doc[k], base_dir) for k in MODEL_KEYS if k in doc}
    variant = {"VariantName": doc.get("VariantName", "AllTraffic")}
    coserve = doc.get("Coserve")
    digest = hashlib.sha256(json.dumps([model, variant, coserve], sort_keys=True).encode()).hexdigest()[:8]
    model_name = f"{str(doc.get('ModelName', endpoint))[:54]}-{digest}"
    config_name = f"{endpoint[:54]}-{digest}"
    current = ops.context.store.endpoint(endpoint)
    ours = {s.config_name for s in (current.running, current.target) if s} if current else set()
    if current is not None and current.status != "Deleting" and config_name in ours:
        return "unchanged"
    requests = [
        ("CreateModel", {**model, "ModelName": model_name}),
        ("CreateEndpointConfig", {"EndpointConfigName": config_name,
                                  "ProductionVariants": [{**variant, "ModelName": model_name}]}),
        ("CreateEndpoint" if current is None else "UpdateEndpoint",
         {"EndpointName": endpoint, "EndpointConfigName": config_name}),
    ]  # fmt: skip
    _check(wire, requests, coserve)
    for name, params in requests:
        _call(ops, name, params, (coserve or {}) if name.endswith("Endpoint") else None)
    return "created" if current is None else "updated"


def _check(wire: Wire, requests: list[tuple[str, dict[str, Any]]], coserve: Any) -> None:
    """Everything the calls would refuse, refused before the first one writes: a bad file leaves no trace."""
    for name, params in requests:
        wire.validate(wire.operation(f"SageMaker.{name}"), params)
    (_, model), (_, config), (_, endpoint) = requests
    unsupported.check_model(model)
    unsupported.check_config(config)
    unsupported.check_endpoint(endpoint)
    snapshot = Snapshot(config["EndpointConfigName"], config, {model["ModelName"]: model})
    desired.to_deployment(endpoint["EndpointName"], snapshot, coserve)


def _call(ops: Operations, name: str, params: dict[str, Any], coserve: Any) -> None:
    """A model or config this version of the file made already (an earlier, interrupted apply) is reused."""
    try:
        ops.call(name, params, coserve)
    except ValidationException as exc:
        if not exc.message.startswith("Cannot create already existing"):
            raise


def _absolute(key: str, value: Any, base: Path | None) -> Any:
    """ModelDataUrl paths in a file mean: next to the file (as runtime.config.load_deployment reads them)."""
    if key not in ("PrimaryContainer", "Containers") or base is None:
        return value
    containers = [value] if key == "PrimaryContainer" else value
    fixed = [_fix_url(c, base) if isinstance(c, dict) else c for c in containers]
    return fixed[0] if key == "PrimaryContainer" else fixed


def _fix_url(container: dict[str, Any], base: Path) -> dict[str, Any]:
    url = container.get("ModelDataUrl")
    if isinstance(url, str) and "://" not in url and not Path(url).is_absolute():
        return {**container, "ModelDataUrl": str((base / url).absolute())}
    return container
