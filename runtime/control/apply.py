"""A deployment file as desired state: create its endpoint, or update it when the file changed.

The file is a CreateModel request plus EndpointName, VariantName and Coserve. Models and endpoint configs
are immutable, so each version of the file gets its own, named after a digest of what it asks for
(`<ModelName>-<digest>`, `<EndpointName>-<digest>`): an unchanged file finds its names in use and changes
nothing; a changed one creates new ones and updates the endpoint (blue/green, as UpdateEndpoint does).
Every request goes through the same validation and operations as the API's. `plan` says what applying
would do (so the API can authorize each call first), `execute` does it.

Only the endpoint's part of the Coserve section (Containers, Defaults) is the endpoint's: Server, Storage,
Auth and Metrics are the host's, taken by `coserve serve` at start, so they are neither kept with the
endpoint nor part of its digest (a running host keeps its own; `Plan.host_sections` names what was left).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runtime.config.parse import TOP_KEYS
from runtime.control import desired, unsupported
from runtime.control.errors import ValidationException
from runtime.control.ops import Operations
from runtime.control.records import Snapshot
from runtime.control.tags import HOST_SECTIONS
from runtime.control.wire import Wire

MODEL_KEYS = ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "Tags", "VpcConfig",
              "EnableNetworkIsolation")  # fmt: skip
Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Plan:
    """What applying a document does: `requests` are the calls it makes (all three, also when `unchanged`, so
    a caller can authorize the same actions whatever the outcome)."""

    endpoint: str
    model_name: str
    config_name: str
    outcome: Outcome
    requests: list[tuple[str, dict[str, Any]]]
    coserve: dict[str, Any] | None
    host_sections: tuple[str, ...] = field(default=())


def apply_document(ops: Operations, wire: Wire, doc: dict[str, Any], base_dir: Path | None = None) -> Outcome:
    """`wire` is loaded (Wire.load); relative ModelDataUrl paths resolve against `base_dir` (the file's folder)."""
    found = plan(ops, doc, base_dir)
    execute(ops, wire, found)
    return found.outcome


def plan(ops: Operations, doc: dict[str, Any], base_dir: Path | None = None) -> Plan:
    """Reads the state (not the file's validity: `execute` checks that before it writes)."""
    unknown = sorted(set(doc) - TOP_KEYS, key=str)
    if unknown:
        raise ValidationException(f"{unknown[0]}: unknown key in a deployment file.")
    endpoint = doc.get("EndpointName")
    if not isinstance(endpoint, str):
        raise ValidationException("EndpointName: required in a deployment file.")
    model = {k: _absolute(k, doc[k], base_dir) for k in MODEL_KEYS if k in doc}
    variant = {"VariantName": doc.get("VariantName", "AllTraffic")}
    whole = doc.get("Coserve")
    coserve = {k: v for k, v in whole.items() if k not in HOST_SECTIONS} if isinstance(whole, dict) else whole
    digest = hashlib.sha256(json.dumps([model, variant, coserve], sort_keys=True).encode()).hexdigest()[:8]
    model_name = f"{str(doc.get('ModelName', endpoint))[:54]}-{digest}"
    config_name = f"{endpoint[:54]}-{digest}"
    current = ops.context.store.endpoint(endpoint)
    ours = {s.config_name for s in (current.running, current.target) if s} if current else set()
    outcome: Outcome = "created" if current is None else "updated"
    if current is not None and current.status != "Deleting" and config_name in ours:
        outcome = "unchanged"
    requests = [
        ("CreateModel", {**model, "ModelName": model_name}),
        ("CreateEndpointConfig", {"EndpointConfigName": config_name,
                                  "ProductionVariants": [{**variant, "ModelName": model_name}]}),
        ("CreateEndpoint" if current is None else "UpdateEndpoint",
         {"EndpointName": endpoint, "EndpointConfigName": config_name}),
    ]  # fmt: skip
    host = tuple(f"Coserve.{k}" for k in HOST_SECTIONS if isinstance(whole, dict) and k in whole)
    return Plan(endpoint, model_name, config_name, outcome, requests, coserve, host)


def execute(ops: Operations, wire: Wire, found: Plan) -> None:
    """Checks everything, then writes: nothing for an unchanged file."""
    if found.outcome == "unchanged":
        return
    _check(wire, found.requests, found.coserve)
    for name, params in found.requests:
        _call(ops, name, params, (found.coserve or {}) if name.endswith("Endpoint") else None)


def absolute_paths(doc: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """`doc` with its relative ModelDataUrl paths made absolute against `base_dir`, as `apply_document` reads
    them: what a client sends so that the host reads the same file the same way."""
    return {k: _absolute(k, v, base_dir) for k, v in doc.items()}


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
    if key == "PrimaryContainer":
        return _fix_url(value, base) if isinstance(value, dict) else value
    if not isinstance(value, list):
        return value
    return [_fix_url(c, base) if isinstance(c, dict) else c for c in value]


def _fix_url(container: dict[str, Any], base: Path) -> dict[str, Any]:
    url = container.get("ModelDataUrl")
    if isinstance(url, str) and "://" not in url and not Path(url).is_absolute():
        # Normalized (no `..`), so two spellings of one file's folder give one digest; unlike Path.resolve(),
        # links are not followed: the file names what it names.
        return {**container, "ModelDataUrl": os.path.abspath(base / url)}  # noqa: PTH100
    return container
