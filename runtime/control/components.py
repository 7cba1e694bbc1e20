"""The inference-component operations: Create, Describe, Update, UpdateRuntimeConfig, Delete, List.

They change desired state only (the Specification, CopyCount, a status while work is under way), as the
endpoint operations do; runtime.components runs the copies and moves the status on. A component lives on an
endpoint whose production variant names no model. Admission is checked here, against what the supervisor side
last published of the host's ledger (runtime.components.capacity), so a component that cannot fit is refused
at once with ResourceLimitExceeded; the supervisor side refuses it again at launch if the host changed since.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime.components import capacity
from runtime.components.spec import COMPONENT_TAGS, SpecError, copy_spec, timeouts
from runtime.control.context import Context
from runtime.control.errors import ResourceLimitExceeded, ValidationException, unsupported
from runtime.control.icstore import Component
from runtime.control.listing import page
from runtime.control.resources import not_found
from runtime.control.state import StateTx as Tx

KIND = "inference-component"
SPEC_UNSUPPORTED = {
    "BaseInferenceComponentName": "adapter components are not supported",
    "DataCacheConfig": "artifacts are always cached on this host (Coserve.Storage)",
    "SchedulingConfig": "one host places every copy",
    "StartupParameters": "every container's start is bounded by Coserve.Server.StartupTimeout, and a wake by the "
    "tag coserve:WakeTimeout",
}


def create(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    _one_spec(p)
    name, now = p["InferenceComponentName"], ctx.store.clock()
    arn = ctx.arns.of(KIND, name)
    copies = _copy_count(p.get("RuntimeConfig"))
    with ctx.store.transaction() as tx:
        if tx.component(name) is not None:
            raise ValidationException(f'Cannot create already existing inference component "{arn}".')
        endpoint = tx.endpoint(p["EndpointName"])
        if endpoint is None:
            raise not_found(ctx, "endpoint", "endpoint", p["EndpointName"])
        variant = _variant(endpoint.running or endpoint.target, p.get("VariantName"), endpoint.arn)
        spec = _spec(tx, ctx, p.get("Specification"), p.get("Tags", []))
        _admit(tx, ctx, name, spec, copies)
        tx.put_component(Component(
            name=name, arn=arn, endpoint=endpoint.name, variant=variant, status="Creating", failure_reason=None,
            created=now, modified=now, spec=spec, spec_version=1, previous=None, desired=copies, current=0,
            tags=p.get("Tags", []), generation=1,
        ))  # fmt: skip
    return {"InferenceComponentArn": arn}


def describe(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction(write=False) as tx:
        c = _existing(tx, ctx, p["InferenceComponentName"])
    spec = {k: v for k, v in c.spec.items() if k != "Model"}
    if "Container" in spec:
        given = spec["Container"]
        spec["Container"] = {**{k: v for k, v in given.items() if k != "Image"},
                             "DeployedImage": {"SpecifiedImage": given.get("Image", ""),
                                               "ResolvedImage": given.get("Image", "")}}  # fmt: skip
    out = {
        "InferenceComponentName": c.name, "InferenceComponentArn": c.arn, "EndpointName": c.endpoint,
        "EndpointArn": ctx.arns.endpoint(c.endpoint), "VariantName": c.variant, "Specification": spec,
        "RuntimeConfig": {"DesiredCopyCount": c.desired, "CurrentCopyCount": c.current},
        "CreationTime": c.created, "LastModifiedTime": c.modified, "InferenceComponentStatus": c.status,
    }  # fmt: skip
    return out | ({"FailureReason": c.failure_reason} if c.failure_reason else {})


def update(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    """A new Specification starts new copies beside the old ones (blue/green); CopyCount alone scales."""
    _one_spec(p)
    if "DeploymentConfig" in p:
        raise unsupported("DeploymentConfig", "new copies replace the old ones all at once, once they run")
    with ctx.store.transaction() as tx:
        c = _ready(tx, ctx, p["InferenceComponentName"])
        copies = _copy_count(p["RuntimeConfig"]) if "RuntimeConfig" in p else c.desired
        spec = _spec(tx, ctx, p["Specification"], c.tags) if "Specification" in p else None
        _admit(tx, ctx, c.name, spec or c.spec, copies)
        changed = replace(c, desired=copies, status="Updating", failure_reason=None,
                          modified=ctx.store.clock(), generation=c.generation + 1)  # fmt: skip
        if spec is not None and spec != c.spec:
            changed = replace(changed, spec=spec, previous=c.spec, spec_version=c.spec_version + 1)
        tx.put_component(changed)
    return {"InferenceComponentArn": c.arn}


def update_runtime(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return update(ctx, {"InferenceComponentName": p["InferenceComponentName"],
                        "RuntimeConfig": p["DesiredRuntimeConfig"]})  # fmt: skip


def delete(ctx: Context, p: dict[str, Any]) -> None:
    with ctx.store.transaction() as tx:
        c = _existing(tx, ctx, p["InferenceComponentName"])
        if c.status != "Deleting":
            tx.put_component(replace(c, status="Deleting", modified=ctx.store.clock(), generation=c.generation + 1))


def list_(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction(write=False) as tx:
        found = tx.components()
    rows = [
        {"InferenceComponentName": c.name, "InferenceComponentArn": c.arn, "EndpointName": c.endpoint,
         "EndpointArn": ctx.arns.endpoint(c.endpoint), "VariantName": c.variant, "CreationTime": c.created,
         "LastModifiedTime": c.modified, "InferenceComponentStatus": c.status}
        for c in found
        if p.get("EndpointNameEquals", c.endpoint).lower() == c.endpoint.lower()
        and p.get("VariantNameEquals", c.variant) == c.variant
        and p.get("StatusEquals", c.status) == c.status
    ]  # fmt: skip
    sort = {"Name": "InferenceComponentName", "CreationTime": "CreationTime", "Status": "InferenceComponentStatus"}
    return page(rows, {k: v for k, v in p.items() if k != "StatusEquals"}, "InferenceComponents",
                "InferenceComponentName", sort)  # fmt: skip


def names_on(tx: Tx, endpoint: str) -> list[str]:
    """The components an endpoint hosts (DeleteEndpoint refuses while there are any)."""
    return [c.name for c in tx.components(endpoint)]


def _one_spec(p: dict[str, Any]) -> None:
    if "Specifications" in p:
        raise unsupported("Specifications", "give one Specification")


def _copy_count(runtime: dict[str, Any] | None) -> int:
    if runtime is None:
        raise ValidationException("RuntimeConfig.CopyCount is required: how many copies of the model to run.")
    return int(runtime["CopyCount"])


def _variant(snapshot: Any, asked: str | None, endpoint_arn: str) -> str:
    variants = snapshot.config["ProductionVariants"] if snapshot is not None else []
    hosts = [v["VariantName"] for v in variants if "ModelName" not in v]
    if not hosts:
        raise ValidationException(
            f'Endpoint "{endpoint_arn}" hosts no inference components: its production '
            "variant names a model. Create it from a config whose variant has no ModelName."
        )
    if asked is not None and asked not in hosts:
        raise ValidationException(f'Variant "{asked}" is not a production variant of endpoint "{endpoint_arn}".')
    return asked or hosts[0]


def _spec(tx: Tx, ctx: Context, spec: dict[str, Any] | None, tag_list: list[dict[str, str]]) -> dict[str, Any]:
    """The Specification, checked, with the named model's CreateModel request resolved into it."""
    if spec is None:
        raise ValidationException("Specification is required.")
    for key, why in SPEC_UNSUPPORTED.items():
        if key in spec:
            raise unsupported(f"Specification.{key}", why)
    if "ContainerMetricsConfig" in spec.get("Container", {}):
        raise unsupported("Specification.Container.ContainerMetricsConfig", "coserve publishes its own metrics")
    out = dict(spec)
    if "ModelName" in spec:
        if "Container" in spec:
            raise ValidationException("Specification: give ModelName or Container, not both.")
        model = tx.resource("model", spec["ModelName"])
        if model is None:
            raise not_found(ctx, "model", "model", spec["ModelName"])
        out["Model"] = model.request
    own = {t["Key"]: t["Value"] for t in tag_list}
    for key in own:
        if key.startswith("coserve:") and key not in COMPONENT_TAGS:
            raise ValidationException(f"Tag {key}: an inference component takes {', '.join(COMPONENT_TAGS)} only.")
    try:
        copy_spec(out, "component-check", own)
        timeouts(own, 1.0)
    except SpecError as exc:
        raise ValidationException(str(exc)) from exc
    return out


def _admit(tx: Tx, ctx: Context, name: str, spec: dict[str, Any], copies: int) -> None:
    published = ctx.capacity()
    problem = capacity.refusal(published, tx.components(), name, spec, copies) if published else None
    if problem is not None:
        raise ResourceLimitExceeded(problem)


def _existing(tx: Tx, ctx: Context, name: str) -> Component:
    c = tx.component(name)
    if c is None:
        raise ValidationException(f'Could not find inference component "{ctx.arns.of(KIND, name)}".')
    return c


def _ready(tx: Tx, ctx: Context, name: str) -> Component:
    c = _existing(tx, ctx, name)
    if c.status in ("Creating", "Updating", "Deleting"):
        raise ValidationException(f'Cannot update inference component "{c.arn}" while it is {c.status}.')
    return c
