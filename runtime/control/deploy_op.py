"""`Coserve.ApplyDeployment`: coserve's own operation on the JSON 1.1 protocol, for `coserve apply`.

boto3's CreateModel cannot carry a deployment file's Coserve section (per-container Command, Memory, ...), so
the whole file travels as the body (a JSON object, relative ModelDataUrl paths already made absolute by the
client) and is applied as `coserve serve FILE` applies it at start (runtime.control.apply). It is authorized
as the SageMaker calls it makes: sagemaker:CreateModel on the model's ARN, sagemaker:CreateEndpointConfig on
the config's, and sagemaker:CreateEndpoint (a new endpoint) or sagemaker:UpdateEndpoint on the endpoint's,
whether or not the file changed; every action is checked before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from runtime.control.apply import Plan
from runtime.control.errors import SerializationException
from runtime.control.ops import Operations

TARGET = "Coserve.ApplyDeployment"


def document(body: bytes) -> dict[str, Any]:
    """The deployment document a request carries."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise SerializationException("The request body must be a deployment document (a JSON object).")
    return doc


def authorize(ops: Operations, found: Plan, allow: Callable[[str, str], None]) -> None:
    """`allow(action, resource_arn)` raises to refuse; called for each call the plan makes, in order."""
    for name, params in found.requests:
        allow(f"sagemaker:{name}", ops.resource_arn(name, params))


def answer(ops: Operations, found: Plan) -> dict[str, Any]:
    arns = ops.context.arns
    return {
        "Outcome": found.outcome,
        "EndpointName": found.endpoint,
        "EndpointArn": arns.of("endpoint", found.endpoint),
        "EndpointConfigName": found.config_name,
        "ModelName": found.model_name,
        "HostSettingsNotApplied": list(found.host_sections),
    }
