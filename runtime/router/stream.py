"""InvokeEndpointWithResponseStream: a container's answer relayed as an AWS event stream while it is written.

`POST /endpoints/{name}/invocations-response-stream`. Auth, the endpoint and target checks, MaxInFlight and
every error before the container's first byte are InvokeEndpoint's (the same guard, the same ModelError). Once
the first byte is in, the answer is 200 with `application/vnd.amazon.eventstream`: one `PayloadPart` per piece
the container writes (split at relay.MAX_PART), and if the container then breaks, a `ModelStreamError` event
(`StreamBroken`: reset or cut short; `ModelInvocationTimeExceeded`: silent past StreamChunkTimeout) ends it.

Serial endpoints: every container but the last answers whole, as in InvokeEndpoint; the last one streams.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from runtime.errors import (
    InternalFailure,
    ModelError,
    SageMakerError,
    ServiceUnavailable,
    UnsupportedMethod,
    ValidationError,
)
from runtime.router.body import read_body
from runtime.router.invoke import CUSTOM, FORWARDED, TARGET, Hop, Result, invoke, targets
from runtime.router.relay import CLIENT_CLOSED, relay
from runtime.router.upstream import Answer
from runtime.router.upstream_stream import open_stream
from runtime.routing import Route

if TYPE_CHECKING:
    from runtime.router.app import Router

log = logging.getLogger("runtime.router")
SUFFIX = "/invocations-response-stream"
ACCEPT = "x-amzn-sagemaker-accept"  # the client's Accept, which becomes the container's
COMPONENT = "x-amzn-sagemaker-inference-component"


class StreamObserver(Protocol):
    """Stream figures (runtime.metrics.requests.RequestMetrics implements it)."""

    def first_byte(self, container: str, seconds: float) -> None: ...
    def streamed(self, container: str, size: int) -> None: ...
    def broken(self, container: str, code: str) -> None: ...


def is_stream(path: str) -> bool:
    return path.startswith("/endpoints/") and path.endswith(SUFFIX) and path.count("/") == 3


class _Failed(Exception):
    """An invocation that ended before the stream started: the result to count, its error to answer."""

    def __init__(self, result: Result) -> None:
        self.result = result


class Streams:
    """The ASGI handler for the streaming route; the Router lends its table, guard, upstream and limits."""

    def __init__(self, router: Router, observer: StreamObserver | None = None) -> None:
        self.router = router
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _send_error(send, UnsupportedMethod(f"{scope['method']} is not supported on {scope['path']}."))
            return
        started = time.perf_counter()
        routes: tuple[Route, ...] = ()
        try:
            headers, routes, body = await self._admit(scope, receive)
            await self._bounded(routes, body, headers, receive, send, started)
        except (SageMakerError, _Failed) as exc:
            result = exc.result if isinstance(exc, _Failed) else Result(None, (), exc)
            self._observe(routes, result, started)
            assert result.error is not None
            await _send_error(send, result.error)
        except Exception:  # never a traceback to the client
            log.exception("unexpected failure handling POST %s", scope["path"])
            await _send_error(send, InternalFailure("An internal error occurred in coserve."))

    async def _admit(self, scope: Scope, receive: Receive) -> tuple[Headers, tuple[Route, ...], bytes]:
        """Every check InvokeEndpoint makes, in its order: name, auth, body, endpoint, target."""
        table = self.router.source.get()
        headers = Headers(scope=scope)
        name = scope["path"][len("/endpoints/") : -len(SUFFIX)]
        if not name:
            raise ValidationError(
                "1 validation error detected: Value '' at 'endpointName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            )
        target = headers.get(TARGET)
        guard = self.router.guard
        check = guard(scope, headers, name, target) if guard is not None else None
        keep = check is None or check.keep_body
        body, digest = await read_body(receive, headers, self.router.settings.max_payload, check is not None, keep)
        if check is not None:
            check.finish(digest)
        if name.lower() != table.endpoint_name.lower():
            raise ValidationError(f"Endpoint {name} not found.")
        if COMPONENT in headers:  # no inference components yet: SageMaker's answer for an endpoint without any
            raise ValidationError(
                "Inference Component Name header is not allowed for endpoints to which you dont plan to deploy "
                "inference components. Please remove the Inference Component Name header and try again."
            )
        return headers, targets(table, target), body

    async def _bounded(self, routes: tuple[Route, ...], body: bytes, headers: Headers, receive: Receive,
                       send: Send, started: float) -> None:  # fmt: skip
        """MaxInFlight as InvokeEndpoint counts it (the same counts): a stream holds its place until it ends."""
        limit = self.router.settings.max_in_flight
        in_flight = self.router.in_flight
        busy = [r.hostname for r in routes if in_flight.get(r.hostname, 0) >= limit]
        if busy:
            raise ServiceUnavailable(
                f"Container {busy[0]} already has {limit} requests in flight "
                "(Coserve.Server.MaxInFlight). Reduce the request rate and try again."
            )
        down = [r for r in routes if not r.running]
        if down:
            states = ", ".join(f"{r.hostname} is {r.state}" for r in down)
            raise ServiceUnavailable(f"The container is not ready to serve requests: {states}.")
        for r in routes:
            in_flight[r.hostname] = in_flight.get(r.hostname, 0) + 1
        try:
            await self._stream(routes, body, headers, receive, send, started)
        finally:
            for r in routes:
                in_flight[r.hostname] -= 1

    async def _stream(self, routes: tuple[Route, ...], body: bytes, headers: Headers, receive: Receive,
                      send: Send, started: float) -> None:  # fmt: skip
        hops, body, content_type = await self._before_last(routes, body, headers)
        last = routes[-1]
        sent = {k: headers[k] for k in (CUSTOM, *FORWARDED) if k in headers}
        if content_type:
            sent["Content-Type"] = content_type
        if ACCEPT in headers:
            sent["Accept"] = headers[ACCEPT]
        settings = self.router.settings
        hop_started = time.perf_counter()
        try:
            conn, answer, first = await open_stream(last, body, sent, settings.first_byte_timeout_s,
                                                    settings.max_response)  # fmt: skip
        except ModelError as exc:
            status = int(exc.fields.get("OriginalStatusCode", 0))
            hops.append(Hop(last.hostname, status, time.perf_counter() - hop_started, 0, ""))
            raise _Failed(Result(None, tuple(hops), exc, last.hostname)) from exc
        if self.observer is not None:
            self.observer.first_byte(last.hostname, answer.seconds)
        trace = "x-coserve-trace" in headers
        await send({"type": "http.response.start", "status": 200, "headers": self._head(hops, last, answer, trace)})
        size, code = await relay(conn, first, send, receive, settings.chunk_timeout_s)
        hops.append(Hop(last.hostname, answer.status, time.perf_counter() - hop_started, size,
                        answer.headers.get("Content-Type", "")))  # fmt: skip
        if self.observer is not None:
            self.observer.streamed(last.hostname, size)
            if code is not None:
                self.observer.broken(last.hostname, code)
        if code is None or code == CLIENT_CLOSED:  # a client that leaves is no fault of the container's
            self._observe(routes, Result(answer, tuple(hops)), started)
        else:
            self._observe(routes, Result(None, tuple(hops), ModelError(code), last.hostname), started)

    def _head(self, hops: list[Hop], last: Route, answer: Answer, trace: bool) -> list[tuple[bytes, bytes]]:
        """The response's headers, sent with the first part: the container's type and custom attributes, and
        the trace of what is known by then."""
        out = [(b"x-amzn-invoked-production-variant", self.router.source.get().variant_name.encode()),
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

    async def _before_last(self, routes: tuple[Route, ...], body: bytes,
                           headers: Headers) -> tuple[list[Hop], bytes, str | None]:  # fmt: skip
        """Serial: every container but the last, answered whole (InvokeEndpoint's chain; no client Accept)."""
        content_type = headers.get("content-type")
        if len(routes) == 1:
            return [], body, content_type
        plain = {k: v for k, v in headers.items() if k not in ("accept", ACCEPT)}
        result = await invoke(self.router.upstream, routes[:-1], body, plain, self.router.limits)
        if result.error is not None or result.answer is None:
            raise _Failed(result)
        answer = result.answer
        if len(answer.body) > self.router.settings.max_payload:
            sender, receiver, limit = routes[-2], routes[-1], self.router.settings.max_payload
            raise _Failed(Result(None, result.hops, ModelError(
                f"Received response from {sender.hostname} with status code 200. However, the request payload from "
                f"{sender.hostname} to {receiver.hostname} is {len(answer.body)} bytes, "
                f"which has exceeded the maximum limit of {limit} bytes.",
                OriginalStatusCode=200, OriginalMessage=f"payload of {len(answer.body)} bytes",
                LogStreamArn=sender.log_path), sender.hostname))  # fmt: skip
        return list(result.hops), answer.body, answer.headers.get("Content-Type")

    def _observe(self, routes: tuple[Route, ...], result: Result, started: float) -> None:
        if self.router.observer is not None:
            self.router.observer(tuple(r.hostname for r in routes), result, time.perf_counter() - started)


def _trace(hops: list[Hop], host: str, status: int, first_byte_s: float, content_type: str) -> str:
    """InvokeEndpoint's trace for the containers answered whole; for the streaming one what is known when its
    first byte arrives (the header goes before the body): `host;status=200;ttfb_ms=1.23;type="..."`."""
    done = [f'{h.hostname};status={h.status};ms={h.seconds * 1000:.2f};bytes={h.bytes_out};type="{h.content_type}"'
            for h in hops]  # fmt: skip
    return ", ".join([*done, f'{host};status={status};ttfb_ms={first_byte_s * 1000:.2f};type="{content_type}"'])


async def _send_error(send: Send, exc: SageMakerError) -> None:
    body = exc.body()
    headers = [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
