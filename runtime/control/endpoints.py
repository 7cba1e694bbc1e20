"""CreateEndpoint, UpdateEndpoint, DeleteEndpoint: they change desired state only.

Each writes the status SageMaker shows while the work is under way (Creating, Updating, Deleting) and bumps
the endpoint's generation; the reconciler does the work and moves the status on through the store.
What the endpoint will run is resolved here, in the same transaction, into a snapshot.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime.control import components, desired, tags, unsupported
from runtime.control.context import Context, over_limit
from runtime.control.errors import ValidationException
from runtime.control.records import Endpoint, Snapshot
from runtime.control.resources import not_found
from runtime.control.state import StateTx as Tx  # the interface, not the SQLite one


def create(ctx: Context, p: dict[str, Any], coserve: dict[str, Any] | None = None) -> dict[str, Any]:
    """`coserve`: a deployment file's Coserve section; `coserve:` tags (runtime.control.tags) add to it."""
    unsupported.check_endpoint(p)
    coserve = tags.merged(coserve, tags.section(p.get("Tags", [])))
    name, arn, now = p["EndpointName"], ctx.arns.endpoint(p["EndpointName"]), ctx.store.clock()
    with ctx.store.transaction() as tx:
        if tx.endpoint(name) is not None:
            raise ValidationException(f'Cannot create already existing endpoint "{arn}".')
        target = _resolve(tx, ctx, p["EndpointConfigName"])
        desired.to_deployment(name, target, coserve)
        desired.check_bounds(name, target, coserve)
        used = tx.count_endpoints()
        if used >= ctx.limits.max_endpoints:
            raise over_limit("Number of Endpoints per host", ctx.limits.max_endpoints, used)
        tx.put_endpoint(Endpoint(
            name=name, arn=arn, config_name=target.config_name, status="Creating", failure_reason=None,
            created=now, modified=now, running=None, target=target, target_since=now, coserve=coserve,
            tags=p.get("Tags", []), generation=1,
        ))  # fmt: skip
    return {"EndpointArn": arn}


def update(ctx: Context, p: dict[str, Any], coserve: dict[str, Any] | None = None) -> dict[str, Any]:
    """`coserve` None keeps the endpoint's Coserve section (boto3 cannot send one); a mapping replaces it."""
    unsupported.check_endpoint(p)
    with ctx.store.transaction() as tx:
        e = _existing(tx, ctx, p["EndpointName"])
        if e.status == "Failed":
            raise ValidationException(f'Cannot update failed endpoint "{e.arn}". Delete it and create it again.')
        if e.status != "InService":
            raise ValidationException(f'Cannot update in-progress endpoint "{e.arn}".')
        target = _resolve(tx, ctx, p["EndpointConfigName"])
        own = e.coserve if coserve is None else coserve
        desired.to_deployment(e.name, target, own)
        desired.check_bounds(e.name, target, own)
        now = ctx.store.clock()
        tx.put_endpoint(replace(
            e, status="Updating", target=target, target_since=now, coserve=own, modified=now,
            generation=e.generation + 1,
        ))  # fmt: skip
    return {"EndpointArn": e.arn}


def delete(ctx: Context, p: dict[str, Any]) -> None:
    with ctx.store.transaction() as tx:
        e = _existing(tx, ctx, p["EndpointName"])
        if hosted := components.names_on(tx, e.name):
            raise ValidationException(f'Cannot delete endpoint "{e.arn}": it hosts inference components '
                                      f"({', '.join(hosted)}). Delete them first.")  # fmt: skip
        if e.status != "Deleting":
            now = ctx.store.clock()
            tx.put_endpoint(replace(
                e, status="Deleting", target=None, target_since=None, modified=now, generation=e.generation + 1
            ))  # fmt: skip


def _existing(tx: Tx, ctx: Context, name: str) -> Endpoint:
    e = tx.endpoint(name)
    if e is None:
        raise not_found(ctx, "endpoint", "endpoint", name)
    return e


def _resolve(tx: Tx, ctx: Context, config_name: str) -> Snapshot:
    config = tx.resource("endpoint-config", config_name)
    if config is None:
        raise not_found(ctx, "endpoint configuration", "endpoint-config", config_name)
    models = {}
    for variant in config.request["ProductionVariants"]:
        if "ModelName" not in variant:  # it hosts inference components (runtime.control.components)
            continue
        model = tx.resource("model", variant["ModelName"])
        if model is None:
            raise not_found(ctx, "model", "model", variant["ModelName"])
        models[variant["ModelName"]] = model.request
    return Snapshot(config.name, config.request, models)
