"""The control plane's ASGI entry: `POST /` with `X-Amz-Target: SageMaker.<Operation>`, answered in JSON 1.1.

The front door hands it the requests `accepts()` says are its own (the runtime API uses REST paths, so both
share one port). Order per request: read the body, name the operation, authenticate (guard), decode and
validate, authorize the action on the resource's ARN (guard), run the operation in a thread (SQLite blocks).
One target is coserve's own: `Coserve.ApplyDeployment` (runtime.control.deploy_op), a whole deployment file.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from runtime.control import apply, deploy_op
from runtime.control.context import Context
from runtime.control.errors import ValidationException
from runtime.control.ops import HANDLERS, Operations
from runtime.control.state import StateUnavailable
from runtime.control.wire import CONTENT_TYPE, Wire
from runtime.errors import InternalFailure, SageMakerError, ServiceUnavailable

logger = logging.getLogger("runtime.control")
MAX_BODY = 2 * 2**20  # a control-plane request is metadata; the largest (a 15-container model) is far smaller


class ControlGuard(Protocol):
    """Who calls, and may they: both raise a SageMakerError (403s) to refuse."""

    def authenticate(self, scope: Scope, body: bytes) -> object:
        """The caller (opaque to the API), from a request whose signature covers `body`."""
        ...

    def authorize(self, caller: object, action: str, resource_arn: str) -> None:
        """`action` as IAM names it (`sagemaker:CreateEndpoint`); `resource_arn` the resource's, or `*`."""
        ...


def accepts(scope: Scope) -> bool:
    """Whether a request is the control plane's: POST / carrying X-Amz-Target."""
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and scope["path"] == "/"
        and any(name == b"x-amz-target" for name, _ in scope["headers"])
    )


class ControlPlane:
    def __init__(self, context: Context, guard: ControlGuard | None = None) -> None:
        self.ops = Operations(context)
        self.wire = Wire(HANDLERS)
        self.guard = guard

    def load(self) -> ControlPlane:
        """Reads botocore's SageMaker service model (a few hundred milliseconds): once, at start."""
        self.wire.load()
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read(receive)
        status, headers, answer = await self.handle(scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def handle(self, scope: Scope, body: bytes | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body) for one request; `body` None: it was over MAX_BODY."""
        request_id = str(uuid.uuid4())
        try:
            output = await self._run(scope, body)
            status, extra, answer = 200, {}, self.wire.encode(output)
        except SageMakerError as exc:
            status, extra, answer = exc.status, exc.headers(), exc.body()
        except StateUnavailable as exc:  # nothing was changed: a client may retry (botocore retries 503)
            logger.warning("control plane call refused, the state is unavailable: request=%s: %s", request_id, exc)
            failure: SageMakerError = ServiceUnavailable("The control plane's state store is unavailable. Retry later.")
            status, extra, answer = failure.status, failure.headers(), failure.body()
        except Exception:
            logger.exception("control plane call failed: request=%s", request_id)
            failure = InternalFailure("An internal error occurred. See coserve's log.")
            status, extra, answer = failure.status, failure.headers(), failure.body()
        headers = {"content-type": CONTENT_TYPE, "x-amzn-requestid": request_id, **extra}
        return status, [(k.lower().encode(), v.encode()) for k, v in headers.items()], answer

    async def _run(self, scope: Scope, body: bytes | None) -> dict[str, Any]:
        if body is None:
            raise ValidationException(f"The request body is larger than {MAX_BODY} bytes.")
        target = _header(scope, b"x-amz-target")
        if target == deploy_op.TARGET:
            return await self._apply(scope, body)
        op = self.wire.operation(target)
        caller = self.guard.authenticate(scope, body) if self.guard else None
        params = self.wire.decode(op, body)
        if self.guard:
            self.guard.authorize(caller, f"sagemaker:{op.name}", self.ops.resource_arn(op.name, params))
        result = await asyncio.to_thread(self.ops.call, op.name, params)
        logger.info("%s %s", op.name, self.ops.resource_arn(op.name, params))
        return result

    async def _apply(self, scope: Scope, body: bytes) -> dict[str, Any]:
        """Authenticate, plan (reads the state), authorize every call the plan makes, then check and write."""
        caller = self.guard.authenticate(scope, body) if self.guard else None
        doc = deploy_op.document(body)
        found = await asyncio.to_thread(apply.plan, self.ops, doc)
        if self.guard is not None:
            guard = self.guard
            deploy_op.authorize(self.ops, found, lambda action, arn: guard.authorize(caller, action, arn))
        await asyncio.to_thread(apply.execute, self.ops, self.wire, found)
        logger.info("%s %s: %s", deploy_op.TARGET, found.endpoint, found.outcome)
        return deploy_op.answer(self.ops, found)


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


async def _read(receive: Receive) -> bytes | None:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks) if size <= MAX_BODY else None
