"""The front door: SageMaker's runtime API as an ASGI app. No process handles here.

InvokeEndpoint is served by a bare ASGI handler: it is the hot path, and starlette's routing, Request and
Response objects cost more per request than the rest of the front door together (benchmarks/overhead.py).
Everything else (`/ping`, `/metrics`, the lifespan) goes through starlette.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from runtime.errors import (
    InternalFailure,
    SageMakerError,
    ServiceUnavailable,
    UnknownOperationException,
    UnsupportedMethod,
    ValidationError,
)
from runtime.router.body import read_body
from runtime.router.invoke import TARGET, Limits, Result, invoke, targets
from runtime.router.stream import StreamObserver, Streams, is_stream
from runtime.router.upstream import Upstream
from runtime.routing import Route as RouteEntry
from runtime.routing import TableSource

log = logging.getLogger("runtime.router")
TRACE = "x-coserve-trace"
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass(frozen=True)
class BodyCheck:
    """What auth still has to check once the body is in: `finish` takes its SHA-256 (hex) and raises a
    SageMakerError to refuse. `keep_body` False: the request is refused whatever the body holds (a policy denial,
    told only once the signature proves the caller), so the body is hashed as it streams and not kept."""

    finish: Callable[[str], None]
    keep_body: bool = True


# Auth plugs in here, in two steps. (ASGI scope, headers, endpoint name, target hostname) -> what is left to check
# of the body, or raises a SageMakerError: every check the head allows comes before the body is read.
Guard = Callable[[Scope, Headers, str, str | None], BodyCheck]
# Called once per invocation: (routes targeted, result, seconds in coserve). A request the front door answered
# itself (ValidationError, access denied, container not RUNNING) has a result with no hops.
Observer = Callable[[tuple[str, ...], Result, float], None]
PASSED_BACK = (b"x-amzn-sagemaker-custom-attributes", b"x-amzn-sagemaker-new-session-id",
               b"x-amzn-sagemaker-closed-session-id", b"content-type")  # fmt: skip


@dataclass(frozen=True)
class RouterSettings:
    timeout_s: float = 60.0
    max_payload: int = 6 * 2**20
    max_response: int = 6 * 2**20
    max_in_flight: int = 100  # per container, in this process
    first_byte_timeout_s: float = 60.0  # response streaming: request sent to the container's first byte
    chunk_timeout_s: float = 60.0  # response streaming: the longest silence between two chunks


class Router:
    def __init__(self, source: TableSource, settings: RouterSettings,
                 guard: Guard | None = None, observer: Observer | None = None) -> None:  # fmt: skip
        self.source = source
        self.settings = settings
        self.guard = guard
        self.observer = observer
        self.upstream = Upstream(settings.max_response)
        self.limits = Limits(settings.timeout_s, settings.max_payload)
        self.in_flight: dict[str, int] = {}  # requests under way per container hostname, in this process

    async def invocations(self, scope: Scope, receive: Receive) -> Reply:
        """One InvokeEndpoint: the reply to send; every failure in SageMaker's error shape."""
        started = time.perf_counter()
        table = self.source.get()
        # A dict, first value of each name (as starlette's Headers.get): a lookup is a hash, not a scan of the
        # list with a lowercase per call; starlette's Headers only for auth, which needs every value.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(scope["headers"])}
        routes: tuple[RouteEntry, ...] = ()
        try:
            name = endpoint_of(scope["path"])
            if name is None:
                name = table.endpoint_name
            elif not name:
                raise ValidationError(
                    "1 validation error detected: Value '' at 'endpointName' failed to satisfy constraint: "
                    "Member must have length greater than or equal to 1"
                )
            target = headers.get(TARGET)
            # Before any answer that says what exists, and before the body is read.
            check = self.guard(scope, Headers(scope=scope), name, target) if self.guard is not None else None
            keep = check is None or check.keep_body
            body, digest = await read_body(receive, headers, self.settings.max_payload, check is not None, keep)
            if check is not None:
                check.finish(digest)
            if name.lower() != table.endpoint_name.lower():
                raise ValidationError(f"Endpoint {name} not found.")
            routes = targets(table, target)
            result = await self._bounded(routes, body, headers)
        except SageMakerError as exc:
            result = Result(None, (), exc)  # the front door answered without a container: metrics count it too
        if self.observer is not None:
            self.observer(tuple(r.hostname for r in routes), result, time.perf_counter() - started)
        if result.error is not None:
            return _error(result.error)
        return self._answer(table.variant_name, result, TRACE in headers)

    async def _bounded(self, routes: tuple[RouteEntry, ...], body: bytes, headers: dict[str, str]) -> Result:
        """invoke(), unless a container already has MaxInFlight requests: a bounded wait, never a growing queue."""
        busy = [r.hostname for r in routes if self.in_flight.get(r.hostname, 0) >= self.settings.max_in_flight]
        if busy:
            raise ServiceUnavailable(
                f"Container {busy[0]} already has {self.settings.max_in_flight} requests in flight "
                "(Coserve.Server.MaxInFlight). Reduce the request rate and try again."
            )
        for r in routes:
            self.in_flight[r.hostname] = self.in_flight.get(r.hostname, 0) + 1
        try:
            return await invoke(self.upstream, routes, body, headers, self.limits)
        finally:
            for r in routes:
                self.in_flight[r.hostname] -= 1

    def _answer(self, variant: str, result: Result, trace: bool) -> Reply:
        answer = result.answer
        assert answer is not None
        out = [(b"x-amzn-invoked-production-variant", variant.encode())]
        for key, value in answer.headers.items():
            raw = key.lower().encode("latin-1")
            if raw in PASSED_BACK:  # verbatim, Content-Type included (no charset added)
                out.append((raw, value.encode("latin-1")))
        if trace:
            out.append((b"x-coserve-trace", _trace(result).encode("latin-1")))
        out.append((b"content-length", str(len(answer.body)).encode()))
        return 200, out, answer.body

    async def ping(self, request: Request) -> Response:
        table = self.source.get()
        down = {r.hostname: r.state for r in table.not_running()}
        if down:
            doc = {"status": "Unhealthy", "message": f"containers not running: {', '.join(down)}", "containers": down}
            return Response(json.dumps(doc), 503, media_type="application/json")
        return Response(json.dumps({"status": "Healthy"}), 200, media_type="application/json")


def endpoint_of(path: str) -> str | None:
    """`/endpoints/<name>/invocations` -> name; `/invocations` -> None (the one endpoint served)."""
    if path == "/invocations":
        return None
    return path[len("/endpoints/") : -len("/invocations")]


def is_invocations(path: str) -> bool:
    if path == "/invocations":
        return True
    return path.startswith("/endpoints/") and path.endswith("/invocations") and path.count("/") == 3


def _trace(result: Result) -> str:
    """`host;status=200;ms=1.23;bytes=45;type="text/csv; charset=utf-8"` per hop, comma-separated."""
    return ", ".join(
        f'{h.hostname};status={h.status};ms={h.seconds * 1000:.2f};bytes={h.bytes_out};type="{h.content_type}"'
        for h in result.hops
    )


def _error(exc: SageMakerError) -> Reply:
    body = exc.body()
    headers = [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return exc.status, headers, body


class FrontDoorApp:
    """InvokeEndpoint straight to the router, InvokeEndpointWithResponseStream to `streams`; the rest to starlette."""

    def __init__(self, router: Router, fallback: Starlette, streams: Streams | None = None) -> None:
        self.router = router
        self.fallback = fallback
        self.streams = streams or Streams(router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_invocations(scope["path"]):
            status, headers, body = await self._invocations(scope, receive)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        elif scope["type"] == "http" and is_stream(scope["path"]):
            await self.streams(scope, receive, send)
            return
        await self.fallback(scope, receive, send)

    async def _invocations(self, scope: Scope, receive: Receive) -> Reply:
        if scope["method"] != "POST":  # starlette would say 404: the path exists, for POST only
            return _error(UnsupportedMethod(f"{scope['method']} is not supported on {scope['path']}."))
        try:
            return await self.router.invocations(scope, receive)
        except Exception:  # never a traceback to the client
            log.exception("unexpected failure handling POST %s", scope["path"])
            return _error(InternalFailure("An internal error occurred in coserve."))


def build_app(router: Router, extra: Sequence[BaseRoute] = (), streams: StreamObserver | None = None) -> FrontDoorApp:
    """`extra`: routes outside the runtime API (GET /metrics, GET /coserve/status); `streams`: stream figures."""
    fallback = Starlette(
        routes=[Route("/ping", router.ping, methods=["GET"]), *extra],
        lifespan=lambda app: _lifespan(router),
        exception_handlers={404: _unknown, 405: _unknown},
    )
    return FrontDoorApp(router, fallback, Streams(router, streams))


async def _unknown(request: Request, exc: Exception) -> Response:
    """A path or method the API does not have, in SageMaker's error shape (starlette's own is plain text)."""
    error: SageMakerError
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        error = UnsupportedMethod(f"{request.method} is not supported on {request.url.path}.")
    else:
        error = UnknownOperationException(f"No operation at {request.method} {request.url.path}.")
    status, headers, body = _error(error)
    return Response(body, status, headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"})


@contextlib.asynccontextmanager
async def _lifespan(router: Router) -> AsyncIterator[None]:
    yield
    await router.upstream.close()
