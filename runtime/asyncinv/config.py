"""An endpoint's asynchronous-inference settings, read from its endpoint config's `AsyncInferenceConfig`.

The control plane keeps the CreateEndpointConfig request as botocore shapes it; `from_endpoint_config` reads
the part that matters here. `NotificationConfig` (SNS topics) and `KmsKeyId` are accepted and not acted on:
coserve publishes no notifications and writes objects with the bucket's own encryption.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.errors import ValidationError

# SageMaker "chooses an optimal value" when ClientConfig is absent; one host's container pool is small, so a few.
DEFAULT_MAX_CONCURRENT = 4


@dataclass(frozen=True)
class AsyncConfig:
    output_path: str
    """S3OutputPath: answers go to `<output_path>/<InferenceId>.out`."""
    failure_path: str | None = None
    """S3FailurePath: errors go to `<failure_path>/<InferenceId>-error.out` (else under output_path)."""
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    """MaxConcurrentInvocationsPerInstance: requests in flight to the endpoint at once; the rest wait in order."""


class EndpointNotFound(ValidationError):
    """What InvokeEndpoint answers for a name the host does not serve; a Lookup raises it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Endpoint {name} not found.")


class NotAsync(ValidationError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Endpoint {name} is not an asynchronous endpoint: its endpoint configuration has no "
            "AsyncInferenceConfig. Use InvokeEndpoint, or update the endpoint to a configuration with one."
        )


# The seam to the control plane: an endpoint's async settings, None when its config has no AsyncInferenceConfig;
# raises EndpointNotFound for a name the host does not serve. Called from a worker thread (it may block).
Lookup = Callable[[str], AsyncConfig | None]


def from_endpoint_config(config: Mapping[str, Any]) -> AsyncConfig | None:
    """The settings in a CreateEndpointConfig request (as the control plane stores it), or None."""
    section = config.get("AsyncInferenceConfig")
    if not section:
        return None
    output = section.get("OutputConfig") or {}
    client = section.get("ClientConfig") or {}
    return AsyncConfig(
        output_path=str(output.get("S3OutputPath", "")).rstrip("/"),
        failure_path=str(output["S3FailurePath"]).rstrip("/") if output.get("S3FailurePath") else None,
        max_concurrent=int(client.get("MaxConcurrentInvocationsPerInstance") or DEFAULT_MAX_CONCURRENT),
    )
