"""Requests the tests send: small valid ones, each a real CreateModel/CreateEndpointConfig input."""

from __future__ import annotations

from typing import Any

ACCOUNT_ARN = "arn:aws:sagemaker:us-east-1:000000000000"


def model(name: str = "m1", image: str = "process", url: str = "file:///srv/models/m.tar.gz") -> dict[str, Any]:
    return {"ModelName": name, "PrimaryContainer": {"Image": image, "ModelDataUrl": url}}


def config(name: str = "c1", model_name: str = "m1", **variant: Any) -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": model_name, "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 1, **variant}
        ],
    }  # fmt: skip


def error(exc_response: dict[str, Any]) -> tuple[str, str]:
    return exc_response["Error"]["Code"], exc_response["Error"]["Message"]


def tampered(client: Any, operation: str, body: bytes, target: str | None = None) -> Any:
    """Make the client's next `operation` call send `body` (and `target` as X-Amz-Target) instead: a request
    boto3 would never build, still parsed by botocore's own error handling. Returns an undo function."""

    def swap(request: Any, **_: Any) -> None:
        request.body = body
        request.headers["Content-Length"] = str(len(body))
        if target is not None:
            request.headers["X-Amz-Target"] = target

    event = f"before-send.sagemaker.{operation}"
    client.meta.events.register(event, swap)
    return lambda: client.meta.events.unregister(event, swap)
