"""What an invocation's answer means for an asynchronous request: an output to write, an error document to
write, or a reason to try again later.

The Invoker seam returns (status, headers, body) as the front door would answer InvokeEndpoint. An answer in
SageMaker's error shape (`x-amzn-ErrorType`) is written as it is; a raw non-2xx answer from a container is
turned into ModelError's document, as InvokeEndpoint would. `ServiceUnavailable` and `ModelNotReadyException`
mean the endpoint cannot serve yet (starting, updating): the request waits and runs later, until its TTL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from runtime.errors import InternalFailure, ModelError, SageMakerError

# (endpoint name, body, headers, timeout in seconds) -> (status, headers, body). Headers sent: content-type,
# accept, x-amzn-sagemaker-custom-attributes, x-amzn-sagemaker-inference-id (lower case, each when set); the
# timeout is the request's InvocationTimeoutSeconds, which the invoke path must allow instead of its own; past it,
# the Invoker answers ModelError (as InvokeEndpoint would) or raises TimeoutError. Any other exception fails the
# request with InternalFailure.
Invoker = Callable[[str, bytes, Mapping[str, str], float], Awaitable[tuple[int, Mapping[str, str], bytes]]]
NOT_YET = frozenset({"ServiceUnavailable", "ModelNotReadyException"})
JSON = "application/json"


class RequestExpired(SageMakerError):
    """Written to the failure location only: the request waited in the queue past its RequestTTLSeconds."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "RequestExpired"


@dataclass(frozen=True)
class Outcome:
    ok: bool  # True: `body` goes to the output location; False: to the failure location
    body: bytes
    content_type: str | None
    reason: str = ""  # why it failed, for the queue's row and the log
    retry: bool = False  # the endpoint cannot serve yet: nothing written, the request waits


def of_answer(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    lower = {k.lower(): v for k, v in headers.items()}
    if 200 <= status < 300:
        return Outcome(True, body, lower.get("content-type"))
    code = lower.get("x-amzn-errortype", "").split(":", 1)[0].rpartition("#")[2]
    if code:
        return Outcome(False, body, JSON, f"{code} ({status})", retry=code in NOT_YET)
    return failure(_model_error(status, body))


def failure(error: SageMakerError) -> Outcome:
    return Outcome(False, error.body(), JSON, f"{error.code}: {error.message}")


def timed_out(timeout_s: float) -> Outcome:
    return failure(ModelError(
        f"The model did not answer within the request's InvocationTimeoutSeconds ({timeout_s:g} s).",
        ErrorCode="ModelInvocationTimeExceeded",
    ))  # fmt: skip


def expired(waited_s: float, ttl_s: float) -> Outcome:
    return failure(RequestExpired(
        f"The request waited {waited_s:.0f} s in the queue, past its RequestTTLSeconds ({ttl_s:g} s); "
        "it was not sent to the model."
    ))  # fmt: skip


def broken(what: str) -> Outcome:
    return failure(InternalFailure(what))


def _model_error(status: int, body: bytes) -> ModelError:
    """A container's own non-2xx answer, in InvokeEndpoint's words (runtime.router.upstream.model_error)."""
    kind = "client" if 400 <= status < 500 else "server"
    text = body.decode("utf-8", errors="replace")[:2048]
    return ModelError(
        f'Received {kind} error ({status}) from model with message "{text}".',
        ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL", OriginalStatusCode=status, OriginalMessage=text,
    )  # fmt: skip
