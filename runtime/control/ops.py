"""The operations this control plane serves, by name: each takes the validated input, returns the output.

`Operations.call` is what the API runs per request, and what a deployment file's `apply` can run directly
(CreateEndpoint/UpdateEndpoint then also take the file's Coserve section, which boto3 cannot send).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.control import components, endpoints, resources, views
from runtime.control.context import Context
from runtime.control.resources import CONFIG, MODEL

Handler = Callable[[Context, dict[str, Any]], dict[str, Any] | None]

HANDLERS: dict[str, Handler] = {
    "CreateModel": lambda c, p: resources.create(MODEL, c, p),
    "DescribeModel": lambda c, p: resources.describe(MODEL, c, p),
    "DeleteModel": lambda c, p: resources.delete(MODEL, c, p),
    "ListModels": lambda c, p: resources.list_(MODEL, c, p),
    "CreateEndpointConfig": lambda c, p: resources.create(CONFIG, c, p),
    "DescribeEndpointConfig": lambda c, p: resources.describe(CONFIG, c, p),
    "DeleteEndpointConfig": lambda c, p: resources.delete(CONFIG, c, p),
    "ListEndpointConfigs": lambda c, p: resources.list_(CONFIG, c, p),
    "CreateEndpoint": endpoints.create,
    "DescribeEndpoint": views.describe,
    "UpdateEndpoint": endpoints.update,
    "DeleteEndpoint": endpoints.delete,
    "ListEndpoints": views.list_,
    "CreateInferenceComponent": components.create,
    "DescribeInferenceComponent": components.describe,
    "UpdateInferenceComponent": components.update,
    "UpdateInferenceComponentRuntimeConfig": components.update_runtime,
    "DeleteInferenceComponent": components.delete,
    "ListInferenceComponents": components.list_,
}
# The resource each operation acts on, for authorization: (kind, request member naming it); None: the account.
RESOURCE: dict[str, tuple[str, str] | None] = {
    **{f"{verb}Model": ("model", "ModelName") for verb in ("Create", "Describe", "Delete")},
    **{f"{verb}EndpointConfig": ("endpoint-config", "EndpointConfigName") for verb in ("Create", "Describe", "Delete")},
    **{f"{verb}Endpoint": ("endpoint", "EndpointName") for verb in ("Create", "Describe", "Update", "Delete")},
    "ListModels": None,
    "ListEndpointConfigs": None,
    "ListEndpoints": None,
    **{
        f"{verb}InferenceComponent": ("inference-component", "InferenceComponentName")
        for verb in ("Create", "Describe", "Update", "Delete")
    },
    "UpdateInferenceComponentRuntimeConfig": ("inference-component", "InferenceComponentName"),
    "ListInferenceComponents": None,
}


class Operations:
    def __init__(self, context: Context) -> None:
        self.context = context

    def call(self, operation: str, params: dict[str, Any], coserve: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one validated call. `coserve`: a Coserve section, for CreateEndpoint and UpdateEndpoint only."""
        if operation == "CreateEndpoint":
            return endpoints.create(self.context, params, coserve)
        if operation == "UpdateEndpoint":
            return endpoints.update(self.context, params, coserve)
        assert coserve is None, f"{operation} takes no Coserve section"
        return HANDLERS[operation](self.context, params) or {}

    def resource_arn(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN a policy's Resource is matched against: the named resource, or `*` for list calls."""
        named = RESOURCE[operation]
        return "*" if named is None else self.context.arns.of(named[0], params[named[1]])
