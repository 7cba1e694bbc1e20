"""InvokeEndpointWithResponseStream: a container's answer relayed as an AWS event stream while it is written.

`POST /endpoints/{name}/invocations-response-stream`. Auth, the endpoint and target checks, MaxInFlight and
every error before the container's first byte are InvokeEndpoint's (the same guard, the same ModelError). Once
the first byte is in, the answer is 200 with `application/vnd.amazon.eventstream`: one `PayloadPart` per piece
the container writes (split at relay.MAX_PART), and if the container then breaks, a `ModelStreamError` event
(`StreamBroken`: reset or cut short; `ModelInvocationTimeExceeded`: silent past StreamChunkTimeout) ends it.

Serial endpoints: every container but the last answers whole, as in InvokeEndpoint; the last one streams.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Protocol

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from runtime.errors import InternalFailure, ModelError, SageMakerError, UnsupportedMethod, render
from runtime.router.invoke import CUSTOM, FORWARDED, Hop, Result, handoff, invoke, not_ready
from runtime.router.relay import CLIENT_CLOSED, relay
from runtime.router.upstream import Answer
from runtime.router.upstream_stream import open_stream
from runtime.routing import ContainerRoute, EndpointTable

if TYPE_CHECKING:
    from runtime.router.app import Admitted, Router

log = logging.getLogger("runtime.router")
SUFFIX = "/invocations-response-stream"
ACCEPT = "x-amzn-sagemaker-accept"  # the client's Accept, which becomes the container's


class StreamObserver(Protocol):
    """Stream figures (runtime.metrics.requests.RequestMetrics implements it)."""

    def first_byte(self, container: str, seconds: float, endpoint: EndpointTable | None = None) -> None: ...
    def streamed(self, container: str, size: int, endpoint: EndpointTable | None = None) -> None: ...
    def broken(self, container: str, code: str, endpoint: EndpointTable | None = None) -> None: ...


def is_stream(path: str) -> bool:
    return path.startswith("/endpoints/") and path.endswith(SUFFIX) and path.count("/") == 3


class Streams:
    """The ASGI handler for the streaming route; the Router lends its admission, upstream and limits.

    Its path to an answer is InvokeEndpoint's: a Result. One whose `answer` is None ended before the stream
    started, and its error is rendered as the reply; once a stream has started, the Result only counts."""

    def __init__(self, router: Router, observer: StreamObserver | None = None) -> None:
        self.router = router
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _send_error(send, UnsupportedMethod(f"{scope['method']} is not supported on {scope['path']}."))
            return
        started = time.perf_counter()
        try:
            result = await self._invoke(scope, receive, send, Headers(scope=scope))
        except Exception:  # a bug, not an outcome: logged once, never a traceback to the client
            log.exception("unexpected failure handling POST %s", scope["path"])
            with contextlib.suppress(Exception):  # a stream already started can take no error reply
                await _send_error(send, InternalFailure("An internal error occurred in coserve."))
            return
        if self.router.observer is not None:
            self.router.observer(tuple(r.hostname for r in result.routes), result, time.perf_counter() - started)
        if result.answer is None:
            assert result.error is not None
            await _send_error(send, result.error)

    async def _invoke(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> Result:
        """InvokeEndpoint's checks (the same admission, the same MaxInFlight counts), then the stream; a stream
        holds its MaxInFlight place until it ends."""
        name = scope["path"][len("/endpoints/") : -len(SUFFIX)]
        admitted = await self.router.admit(scope, receive, headers, name, stream=True)
        if isinstance(admitted, Result):
            return admitted
        busy = self.router.in_flight.enter(admitted.routes)
        if busy is not None:
            return Result(None, (), busy, None, admitted.endpoint, admitted.routes)
        try:
            return await self._stream(admitted, headers, receive, send)
        finally:
            self.router.in_flight.leave(admitted.routes)

    async def _stream(self, admitted: Admitted, headers: Headers, receive: Receive, send: Send) -> Result:
        endpoint, routes = admitted.endpoint, admitted.routes
        down = not_ready(routes)
        if down is not None:
            return Result(None, (), down, None, endpoint, routes)
        before = await self._before_last(admitted, headers)
        if isinstance(before, Result):
            return before
        hops, body, content_type = before
        last = routes[-1]
        sent = {k: headers[k] for k in (CUSTOM, *FORWARDED) if k in headers}
        if content_type:
            sent["Content-Type"] = content_type
        if ACCEPT in headers:
            sent["Accept"] = headers[ACCEPT]
        settings = self.router.settings
        hop_started = time.perf_counter()
        opened = await open_stream(last, body, sent, settings.first_byte_timeout_s, settings.max_response)
        if isinstance(opened, ModelError):
            status = int(opened.fields.get("OriginalStatusCode", 0))
            hops.append(Hop(last.hostname, status, time.perf_counter() - hop_started, 0, ""))
            return Result(None, tuple(hops), opened, last.hostname, endpoint, routes)
        conn, answer, first = opened
        if self.observer is not None:
            self.observer.first_byte(last.hostname, answer.seconds, endpoint)
        trace = "x-coserve-trace" in headers
        head = self._head(endpoint, hops, last, answer, trace)
        await send({"type": "http.response.start", "status": 200, "headers": head})
        size, code = await relay(conn, first, send, receive, settings.chunk_timeout_s)
        hops.append(Hop(last.hostname, answer.status, time.perf_counter() - hop_started, size,
                        answer.headers.get("Content-Type", "")))  # fmt: skip
        if self.observer is not None:
            self.observer.streamed(last.hostname, size, endpoint)
            if code is not None:
                self.observer.broken(last.hostname, code, endpoint)
        if code is None or code == CLIENT_CLOSED:  # a client that leaves is no fault of the container's
            return Result(answer, tuple(hops), None, None, endpoint, routes)
        return Result(answer, tuple(hops), ModelError(code), last.hostname, endpoint, routes)

    def _head(self, endpoint: EndpointTable, hops: list[Hop], last: ContainerRoute, answer: Answer,
              trace: bool) -> list[tuple[bytes, bytes]]:  # fmt: skip
        """The response's headers, sent with the first part: the container's type and custom attributes, and
        the trace of what is known by then."""
        out = [(b"x-amzn-invoked-production-variant", endpoint.variant.encode()),
               (b"content-type", b"application/vnd.amazon.eventstream")]  # fmt: skip
        content_type = answer.headers.get("Content-Type")
        if content_type is not None:
            out.append((b"x-amzn-sagemaker-content-type", content_type.encode("latin-1")))
        if CUSTOM in answer.headers:
            out.append((CUSTOM.encode(), answer.headers[CUSTOM].encode("latin-1")))
        if trace:
            text = _trace(hops, last.hostname, answer.status, answer.seconds, content_type or "")
            out.append((b"x-coserve-trace", text.encode("latin-1")))
        return out

    async def _before_last(self, admitted: Admitted,
                           headers: Headers) -> tuple[list[Hop], bytes, str | None] | Result:  # fmt: skip
        """Serial: every container but the last, answered whole (InvokeEndpoint's chain; no client Accept)."""
        routes, content_type = admitted.routes, headers.get("content-type")
        if len(routes) == 1:
            return [], admitted.body, content_type
        plain = {k: v for k, v in headers.items() if k not in ("accept", ACCEPT)}
        router = self.router
        result = await invoke(router.upstream, admitted.endpoint, routes[:-1], admitted.body, plain, router.bounds)
        if result.answer is None:
            return Result(None, result.hops, result.error, result.failed, admitted.endpoint, routes)
        size = len(result.answer.body)
        if (oversize := handoff(routes[-2], routes[-1], size, router.settings.max_payload)) is not None:
            return Result(None, result.hops, oversize, routes[-2].hostname, admitted.endpoint, routes)
        return list(result.hops), result.answer.body, result.answer.headers.get("Content-Type")


def _trace(hops: list[Hop], host: str, status: int, first_byte_s: float, content_type: str) -> str:
    """InvokeEndpoint's trace for the containers answered whole; for the streaming one what is known when its
    first byte arrives (the header goes before the body): `host;status=200;ttfb_ms=1.23;type="..."`."""
    done = [f'{h.hostname};status={h.status};ms={h.seconds * 1000:.2f};bytes={h.bytes_out};type="{h.content_type}"'
            for h in hops]  # fmt: skip
    return ", ".join([*done, f'{host};status={status};ttfb_ms={first_byte_s * 1000:.2f};type="{content_type}"'])


async def _send_error(send: Send, error: SageMakerError) -> None:
    status, headers, body = render(error)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
