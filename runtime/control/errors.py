"""The control plane's errors, as SageMaker's JSON 1.1 API answers them (botocore reads `__type`)."""

from __future__ import annotations

from runtime.errors import SageMakerError


class ValidationException(SageMakerError):
    """SageMaker answers bad input, and missing or duplicate resources, with this code."""

    status = 400
    code = "ValidationException"


class ResourceLimitExceeded(SageMakerError):
    """The one error botocore's model lists for these calls (Create*, UpdateEndpoint); a host limit here."""

    status = 400
    code = "ResourceLimitExceeded"


class UnknownOperationException(SageMakerError):
    """An X-Amz-Target this host does not serve (another service, or a SageMaker call coserve lacks)."""

    status = 400
    code = "UnknownOperationException"


class SerializationException(SageMakerError):
    """The body is not a JSON object."""

    status = 400
    code = "SerializationException"


def unsupported(field: str, why: str) -> ValidationException:
    """A field coserve cannot honour: named, never silently ignored."""
    return ValidationException(f"{field} is not supported by coserve: {why}.")
