"""Models and endpoint configs: immutable resources, created, described, listed and deleted alike.

Deleting one that an endpoint uses is allowed, as on SageMaker: the endpoint runs its own snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.control import desired, unsupported
from runtime.control.context import Context, over_limit
from runtime.control.errors import ValidationException
from runtime.control.listing import page
from runtime.control.records import Kind, Resource
from runtime.control.state import StateTx as Tx  # the interface, not the SQLite one


@dataclass(frozen=True)
class Spec:
    kind: Kind
    name: str  # the request member naming it
    arn: str  # the answer member carrying its ARN
    label: str  # as SageMaker's messages call it
    listed: str  # the list call's answer member
    limit: Callable[[Context], int]
    check: Callable[[dict[str, Any]], None]  # unsupported fields and translation, before any write
    refs: Callable[[Tx, Context, dict[str, Any]], None] = lambda tx, ctx, p: None  # what it names must exist


def not_found(ctx: Context, label: str, kind: str, name: str) -> ValidationException:
    return ValidationException(f'Could not find {label} "{ctx.arns.of(kind, name)}".')


def create(spec: Spec, ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    spec.check(p)
    name = p[spec.name]
    arn = ctx.arns.of(spec.kind, name)
    request = {k: v for k, v in p.items() if k != "Tags"}
    with ctx.store.transaction() as tx:
        if tx.resource(spec.kind, name) is not None:
            raise ValidationException(f'Cannot create already existing {spec.label} "{arn}".')
        spec.refs(tx, ctx, p)
        used = tx.count(spec.kind)
        if used >= spec.limit(ctx):
            raise over_limit(f"Number of {spec.listed} per host", spec.limit(ctx), used)
        tx.add_resource(spec.kind, Resource(name, arn, ctx.store.clock(), request, p.get("Tags", [])))
    return {spec.arn: arn}


def describe(spec: Spec, ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction(write=False) as tx:
        r = tx.resource(spec.kind, p[spec.name])
    if r is None:
        raise not_found(ctx, spec.label, spec.kind, p[spec.name])
    return {**r.request, spec.name: r.name, spec.arn: r.arn, "CreationTime": r.created}


def delete(spec: Spec, ctx: Context, p: dict[str, Any]) -> None:
    with ctx.store.transaction() as tx:
        if not tx.delete_resource(spec.kind, p[spec.name]):
            raise not_found(ctx, spec.label, spec.kind, p[spec.name])


def list_(spec: Spec, ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction(write=False) as tx:
        rows = [{spec.name: r.name, spec.arn: r.arn, "CreationTime": r.created} for r in tx.resources(spec.kind)]
    return page(rows, p, spec.listed, spec.name, {"Name": spec.name, "CreationTime": "CreationTime"})


def _model_check(p: dict[str, Any]) -> None:
    if "PrimaryContainer" not in p and "Containers" not in p:
        raise ValidationException("CreateModel needs PrimaryContainer or Containers.")
    unsupported.check_model(p)
    desired.check_model(p)


def _models_exist(tx: Tx, ctx: Context, p: dict[str, Any]) -> None:
    for variant in p["ProductionVariants"]:
        if "ModelName" in variant and tx.resource("model", variant["ModelName"]) is None:
            raise not_found(ctx, "model", "model", variant["ModelName"])


MODEL = Spec("model", "ModelName", "ModelArn", "model", "Models", lambda c: c.limits.max_models, _model_check)
CONFIG = Spec(
    "endpoint-config", "EndpointConfigName", "EndpointConfigArn", "endpoint configuration", "EndpointConfigs",
    lambda c: c.limits.max_endpoint_configs, unsupported.check_config, _models_exist,
)  # fmt: skip
