"""SageMaker's JSON 1.1 protocol: which operation, its input checked against botocore's model, the output.

A request is `POST /` with `X-Amz-Target: SageMaker.<Operation>` and a JSON object as its body. The input
is validated with botocore's own ParamValidator (required members, types, minimums) plus the constraints
the service enforces (`constraints`). Timestamps travel as epoch seconds, both ways.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import botocore.session  # type: ignore[import-untyped]
from botocore.model import OperationModel, ServiceModel  # type: ignore[import-untyped]
from botocore.validate import ParamValidator  # type: ignore[import-untyped]

from runtime.control import constraints
from runtime.control.errors import SerializationException, UnknownOperationException, ValidationException

CONTENT_TYPE = "application/x-amz-json-1.1"
PREFIX = "SageMaker."


class Wire:
    """The service model of SageMaker, loaded once by `load()`; then decode and encode per call."""

    def __init__(self, operations: Collection[str]) -> None:
        self.operations = frozenset(operations)
        self._service: ServiceModel | None = None

    def load(self) -> Wire:
        self._service = botocore.session.get_session().get_service_model("sagemaker")
        return self

    def operation(self, target: str | None) -> OperationModel:
        """The operation an X-Amz-Target names, if this host serves it."""
        assert self._service is not None, "Wire.load() first"
        name = (target or "").removeprefix(PREFIX)
        if not target or not target.startswith(PREFIX) or name not in self.operations:
            raise UnknownOperationException(f"Operation {target or '(no X-Amz-Target)'} is not supported by coserve.")
        return self._service.operation_model(name)

    def decode(self, op: OperationModel, body: bytes) -> dict[str, Any]:
        """The validated input, as botocore's shapes name it. An empty body is an empty object."""
        try:
            params = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise SerializationException("The request body must be a JSON object.")
        return self.validate(op, params)

    def validate(self, op: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
        """Raise ValidationException unless `params` is a valid input of `op` (also for calls made in-process)."""
        if op.input_shape is None:
            return params
        try:
            report = ParamValidator().validate(params, op.input_shape)
        except (RuntimeError, OverflowError, OSError) as exc:
            # botocore's timestamp check raises these for an epoch far outside datetime's range (it catches only
            # ValueError and TypeError): a bad input, not our failure
            raise ValidationException(f"1 validation error detected: a timestamp is out of range: {exc}") from None
        if report.has_errors():
            raise ValidationException(report.generate_report())
        found = constraints.check(op.input_shape, params)
        if found:
            many = "error" if len(found) == 1 else "errors"
            raise ValidationException(f"{len(found)} validation {many} detected: " + "; ".join(found))
        return params

    def encode(self, output: Mapping[str, Any] | None) -> bytes:
        """JSON 1.1: timestamps are already epoch seconds (floats) in what the operations return."""
        return json.dumps(output or {}, separators=(",", ":")).encode()
