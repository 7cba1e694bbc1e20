"""InvokeEndpointAsync on the front door: `POST /endpoints/{name}/async-invocations`, answered 202 at once.

The answer is sent only after the request is committed to the queue, so a 202 is a promise kept across a crash.
Errors are SageMaker's (runtime.errors), rendered as the rest of the runtime API renders them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from runtime.asyncinv.auth import AsyncGuard
from runtime.asyncinv.config import Lookup, NotAsync
from runtime.asyncinv.locations import locations
from runtime.asyncinv.queue import AsyncQueue
from runtime.asyncinv.request import MAX_INLINE_BODY, parse
from runtime.errors import (
    InternalFailure,
    Reply,
    SageMakerError,
    ServiceUnavailable,
    UnsupportedMethod,
    ValidationError,
    render,
)
from runtime.router.body import read_body

log = logging.getLogger("runtime.asyncinv")
PREFIX, SUFFIX = "/endpoints/", "/async-invocations"


def accepts(scope: Scope) -> bool:
    """Whether a request is InvokeEndpointAsync's (any method: a wrong one is answered here too)."""
    path: str = scope.get("path", "")
    return scope["type"] == "http" and path.startswith(PREFIX) and path.endswith(SUFFIX) and path.count("/") == 3


class AsyncInvocations:
    """The ASGI handler. `on_queued` is called after each commit (the worker's `wake`, when in this process)."""

    def __init__(self, queue: AsyncQueue, lookup: Lookup, on_queued: Callable[[], None] | None = None,
                 guard: AsyncGuard | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.queue, self.lookup, self.on_queued, self.clock = queue, lookup, on_queued, clock
        self.guard = guard  # Coserve.Auth (runtime.asyncinv.auth): checked before anything else is answered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = await self.reply(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def reply(self, scope: Scope, receive: Receive) -> Reply:
        """Read the body (at most the inline limit), then `handle` it."""
        if scope["method"] != "POST":
            return render(UnsupportedMethod(f"{scope['method']} is not supported on {scope['path']}."))
        read = await read_body(receive, _headers(scope), MAX_INLINE_BODY, hashed=False)
        if isinstance(read, SageMakerError):
            return render(read)
        return await self.handle(scope, read[0])

    async def handle(self, scope: Scope, body: bytes) -> Reply:
        """One request whose body is already read."""
        endpoint = scope["path"][len(PREFIX) : -len(SUFFIX)]
        refused = self.guard(scope, endpoint, body) if self.guard is not None else None
        if refused is not None:
            return render(refused)
        try:
            return await self._queue(endpoint, _headers(scope), body)
        except SageMakerError as exc:
            return render(exc)
        except sqlite3.OperationalError as exc:  # the file is locked or the disk is full: worth a retry
            log.error("async: request not queued: %s", exc)
            return render(ServiceUnavailable("The request could not be queued. Try again."))
        except Exception:
            log.exception("async: unexpected failure queuing POST %s", scope["path"])
            return render(InternalFailure("An internal error occurred in coserve."))

    async def _queue(self, endpoint: str, headers: dict[str, str], body: bytes) -> Reply:
        request = parse(endpoint, headers, body)
        config = await asyncio.to_thread(self.lookup, endpoint)
        if config is None:
            raise NotAsync(endpoint)
        if not config.output_path.startswith("s3://"):
            raise ValidationError(f"Endpoint {endpoint}'s AsyncInferenceConfig has no s3:// S3OutputPath.")
        where = locations(config, request.inference_id, request.extension, request.filename)
        where = await asyncio.to_thread(self.queue.enqueue, request, where, self.clock())
        if self.on_queued is not None:
            self.on_queued()
        log.info("async %s/%s: queued", endpoint, request.inference_id)
        answer = json.dumps({"InferenceId": request.inference_id}).encode()
        return 202, [
            (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode()),
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            (b"x-amzn-sagemaker-outputlocation", where.output.encode()),
            (b"x-amzn-sagemaker-failurelocation", where.failure.encode()),
        ], answer  # fmt: skip


def _headers(scope: Scope) -> dict[str, str]:
    """Lower-case names, the first value of each."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(scope["headers"])}
