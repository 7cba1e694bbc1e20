"""DescribeEndpoint and ListEndpoints: an endpoint as SageMaker shows it."""

from __future__ import annotations

from typing import Any

from runtime.control.context import Context
from runtime.control.listing import page
from runtime.control.records import Endpoint, Snapshot
from runtime.control.resources import not_found

SORT = {"Name": "EndpointName", "CreationTime": "CreationTime", "Status": "EndpointStatus"}


def describe(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    e = ctx.store.endpoint(p["EndpointName"])
    if e is None:
        raise not_found(ctx, "endpoint", "endpoint", p["EndpointName"])
    out = {**_summary(e), "EndpointConfigName": e.config_name}
    if e.running is not None:
        out["ProductionVariants"] = _variants(e.running, current=True)
    if e.failure_reason is not None:
        out["FailureReason"] = e.failure_reason
    if e.status == "Updating" and e.target is not None:
        out["PendingDeploymentSummary"] = {
            "EndpointConfigName": e.target.config_name,
            "ProductionVariants": _variants(e.target, current=False),
            "StartTime": e.target_since,
        }
    return out


def list_(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rows = [_summary(e) for e in ctx.store.endpoints()]
    return page(rows, p, "Endpoints", "EndpointName", SORT)


def _summary(e: Endpoint) -> dict[str, Any]:
    return {
        "EndpointName": e.name,
        "EndpointArn": e.arn,
        "CreationTime": e.created,
        "LastModifiedTime": e.modified,
        "EndpointStatus": e.status,
    }


def _variants(s: Snapshot, current: bool) -> list[dict[str, Any]]:
    """Weights and instance counts as the config asked: fields that only place instances are shown back."""
    shown = []
    for v in s.config["ProductionVariants"]:
        model = s.models.get(v.get("ModelName", ""))  # none: the variant hosts inference components
        containers = (model.get("Containers") or [model["PrimaryContainer"]]) if model else []
        weight, count = float(v.get("InitialVariantWeight", 1.0)), int(v.get("InitialInstanceCount", 1))
        row: dict[str, Any] = {
            "VariantName": v["VariantName"],
            "DeployedImages": [{"SpecifiedImage": c["Image"], "ResolvedImage": c["Image"]} for c in containers],
            "DesiredWeight": weight,
            "DesiredInstanceCount": count,
        }
        if current:
            row.update(CurrentWeight=weight, CurrentInstanceCount=count)
        else:
            row.update({k: v[k] for k in ("InstanceType",) if k in v})
        if "RoutingConfig" in v:
            row["RoutingConfig"] = v["RoutingConfig"]
        shown.append(row)
    return shown
