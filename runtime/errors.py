"""One error root for everything the front door can answer with, in SageMaker's wire shape, and the one
place that renders it.

botocore finds the error code in the `x-amzn-ErrorType` header (then `__type` in the body) and the
modeled members by name in the JSON body, so each error renders both (see
`shared/reference/sagemaker-contract.md`, section 2.3). On the invoke path an error is a value (returned in
a result, never raised); `render` turns it into the reply for InvokeEndpoint, a stream before its first byte,
`/ping` and unknown paths alike.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

# An HTTP answer as the front door sends it: status, raw ASGI headers, body.
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


class SageMakerError(Exception):
    """An error with the status and code botocore expects; `fields` are extra modeled members."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalFailure"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> bytes:
        doc: dict[str, Any] = {"__type": self.code, "message": self.message}
        doc.update(self.fields)
        return json.dumps(doc).encode()

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": f"{self.code}:http://internal.amazon.com/coral/com.amazon.sagemaker/"}


def render(error: SageMakerError) -> Reply:
    """The one rendering of every SageMaker error: status, `x-amzn-ErrorType`, a JSON body."""
    body = error.body()
    headers = [(k.lower().encode(), v.encode()) for k, v in error.headers().items()]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return error.status, headers, body


class ValidationError(SageMakerError):
    status = 400
    code = "ValidationError"


class ModelError(SageMakerError):
    """A container answered non-2xx, reset the connection or timed out. Clients do not retry 424."""

    status = 424
    code = "ModelError"


class ModelNotReadyException(SageMakerError):
    status = 429
    code = "ModelNotReadyException"


class InternalFailure(SageMakerError):
    status = 500
    code = "InternalFailure"


class ServiceUnavailable(SageMakerError):
    status = 503
    code = "ServiceUnavailable"


class AccessDeniedException(SageMakerError):
    status = 403
    code = "AccessDeniedException"


class InvalidSignatureException(SageMakerError):
    status = 403
    code = "InvalidSignatureException"


class UnrecognizedClientException(SageMakerError):
    status = 403
    code = "UnrecognizedClientException"


class MissingAuthenticationTokenException(SageMakerError):
    status = 403
    code = "MissingAuthenticationTokenException"


class RequestTimeout(SageMakerError):
    """The client did not send its request's headers or body in time (Coserve.Server.HeaderTimeout/BodyTimeout)."""

    status = 408
    code = "RequestTimeout"


class RequestHeaderFieldsTooLarge(SageMakerError):
    """The request's head passed Coserve.Server.MaxHeaderSize or MaxHeaders."""

    status = 431
    code = "RequestHeaderFieldsTooLarge"


class UnknownOperationException(SageMakerError):
    """A path or method the runtime API does not have."""

    status = 404
    code = "UnknownOperationException"


class UnsupportedMethod(UnknownOperationException):
    """A path the runtime API has, with a method it does not take."""

    status = 405
