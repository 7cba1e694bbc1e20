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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.errors import (
    InternalFailure,
    Reply,
    SageMakerError,
    ServiceUnavailable,
    UnknownOperationException,
    UnsupportedMethod,
    render,
)
from runtime.router.body import read_body
from runtime.router.components import ComponentRouter
from runtime.router.invoke import TARGET, InFlight, InvokeBounds, Result, endpoint_name, find, invoke, targets
from runtime.router.stream import StreamObserver, Streams, is_stream
from runtime.router.upstream import Upstream
from runtime.routing import ContainerRoute, EndpointTable, TableSource

log = logging.getLogger("runtime.router")
TRACE = "x-coserve-trace"
COMPONENT = "x-amzn-sagemaker-inference-component"


@dataclass(frozen=True)
class BodyCheck:
    """What auth still has to check once the body is in: `finish` takes its SHA-256 (hex) and returns the
    SageMakerError that refuses the request, or None. `keep_body` False: the request is refused whatever the body
    holds (a policy denial, told only once the signature proves the caller), so the body is hashed as it streams
    and not kept."""

    finish: Callable[[str], SageMakerError | None]
    keep_body: bool = True


# Auth plugs in here, in two steps. (ASGI scope, headers, endpoint name, target hostname) -> what is left to check
# of the body, or the SageMakerError that refuses the request: every check the head allows comes before the body.
Guard = Callable[[Scope, Headers, str, str | None], BodyCheck | SageMakerError]
# Called once per invocation: (routes targeted, result, seconds in coserve). A request the front door answered
# itself (ValidationError, access denied, container not RUNNING) has a result with no hops; `result.endpoint` is
# the endpoint it went to (None when refused before one was found).
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


@dataclass(slots=True)
class Admitted:
    """A request that passed every check before a container is called: where it goes and its body. (Not frozen:
    a frozen dataclass's __init__ costs a setattr call per field, on every request.)"""

    endpoint: EndpointTable
    routes: tuple[ContainerRoute, ...]
    body: bytes


class Router:
    def __init__(self, source: TableSource, settings: RouterSettings,
                 guard: Guard | None = None, observer: Observer | None = None,
                 components: ComponentRouter | None = None) -> None:  # fmt: skip
        self.source = source
        self.components = components or ComponentRouter(source, None)
        self.settings = settings
        self.guard = guard
        self.observer = observer
        self.upstream = Upstream(settings.max_response)
        self.bounds = InvokeBounds(settings.timeout_s, settings.max_payload)
        self.in_flight = InFlight(settings.max_in_flight)

    async def invocations(self, scope: Scope, receive: Receive) -> Reply:
        """One InvokeEndpoint: the reply to send; every failure in SageMaker's error shape."""
        started = time.perf_counter()
        # A dict, first value of each name (as starlette's Headers.get): a lookup is a hash, not a scan of the
        # list with a lowercase per call; starlette's Headers only for auth, which needs every value.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(scope["headers"])}
        admitted = await self.admit(scope, receive, headers, endpoint_of(scope["path"]))
        result = admitted if isinstance(admitted, Result) else await self._bounded(admitted, headers)
        if self.observer is not None:
            self.observer(tuple(r.hostname for r in result.routes), result, time.perf_counter() - started)
        if result.error is not None:
            return render(result.error)
        return self._answer(result, TRACE in headers)

    async def admit(self, scope: Scope, receive: Receive, headers: Mapping[str, str], name: str | None,
                    stream: bool = False) -> Admitted | Result:  # fmt: skip
        """Every check before a container is called, in this order: the name, auth (before any answer that says
        what exists, and before the body is read), the body, the endpoint, the target. A refusal is a Result."""
        table = self.source.get()
        named = endpoint_name(table, name)
        if isinstance(named, SageMakerError):
            return Result(None, (), named)
        target = headers.get(TARGET)
        check = self.guard(scope, Headers(scope=scope), named, target) if self.guard is not None else None
        if isinstance(check, SageMakerError):
            return Result(None, (), check)
        keep = check is None or check.keep_body
        read = await read_body(receive, headers, self.settings.max_payload, check is not None, keep)
        if isinstance(read, SageMakerError):
            return Result(None, (), read)
        if check is not None and (refused := check.finish(read[1])) is not None:
            return Result(None, (), refused)
        # The table as it is now, not as it was before a body that may have taken seconds: an endpoint switched
        # to new containers meanwhile must not send this request to old ones that may be draining.
        endpoint = find(self.source.get(), named)
        if isinstance(endpoint, SageMakerError):
            return Result(None, (), endpoint)
        component = self.components.check(endpoint, headers.get(COMPONENT))
        if component is not None:  # an inference component: one of its copies, woken if it sleeps
            copy = component if isinstance(component, SageMakerError) else (
                await self.components.route(endpoint.name, component, self.in_flight.counts))  # fmt: skip
            if isinstance(copy, SageMakerError):
                return Result(None, (), copy, None, endpoint)
            return Admitted(endpoint, (copy,), read[0])
        routes: tuple[ContainerRoute, ...] | SageMakerError = targets(endpoint, target)
        if not isinstance(routes, SageMakerError):  # containers that idled: woken, and waited for
            routes = await self.components.containers(endpoint, routes)
        if isinstance(routes, SageMakerError):
            return Result(None, (), routes, None, endpoint)
        return Admitted(endpoint, routes, read[0])

    async def _bounded(self, admitted: Admitted, headers: dict[str, str]) -> Result:
        """invoke(), unless a container already has MaxInFlight requests."""
        routes = admitted.routes
        busy = self.in_flight.enter(routes)
        if busy is not None:
            return Result(None, (), busy, None, admitted.endpoint, routes)
        try:
            return await invoke(self.upstream, admitted.endpoint, routes, admitted.body, headers, self.bounds)
        finally:
            self.in_flight.leave(routes)

    def _answer(self, result: Result, trace: bool) -> Reply:
        answer = result.answer
        assert answer is not None and result.endpoint is not None
        out = [(b"x-amzn-invoked-production-variant", result.endpoint.variant.encode())]
        for key, value in answer.headers.items():
            raw = key.lower().encode("latin-1")
            if raw in PASSED_BACK:  # verbatim, Content-Type included (no charset added)
                out.append((raw, value.encode("latin-1")))
        if trace:
            out.append((b"x-coserve-trace", _trace(result).encode("latin-1")))
        out.append((b"content-length", str(len(answer.body)).encode()))
        return 200, out, answer.body

    async def ping(self, request: Request) -> Response:
        """Healthy when every container of every endpoint served here is RUNNING; else 503 naming, per endpoint,
        the containers that are not (`containers` merges them: hostname -> state)."""
        down = self.source.get().not_running()
        if not down:
            return Response(json.dumps({"status": "Healthy"}), 200, media_type="application/json")
        names = ", ".join(r.hostname for routes in down.values() for r in routes)
        return _response(ServiceUnavailable(
            f"containers not running: {names}", status="Unhealthy",
            containers={r.hostname: r.state for routes in down.values() for r in routes},
            endpoints={name: {r.hostname: r.state for r in routes} for name, routes in down.items()},
        ))  # fmt: skip


def endpoint_of(path: str) -> str | None:
    """`/endpoints/<name>/invocations` -> name; `/invocations` -> None (the container contract's path)."""
    if path == "/invocations":
        return None
    return path[len("/endpoints/") : -len("/invocations")]


def is_async(path: str) -> bool:
    """`/endpoints/{name}/async-invocations`: InvokeEndpointAsync."""
    return path.startswith("/endpoints/") and path.endswith("/async-invocations") and path.count("/") == 3


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


def _response(error: SageMakerError) -> Response:
    """A rendered error as a starlette Response, for the routes starlette serves."""
    status, headers, body = render(error)
    return Response(body, status, headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"})


class FrontDoorApp:
    """InvokeEndpoint straight to the router, InvokeEndpointWithResponseStream to `streams`; the rest to starlette."""

    def __init__(self, router: Router, fallback: Starlette, streams: Streams | None = None,
                 control: ASGIApp | None = None, async_invocations: ASGIApp | None = None) -> None:  # fmt: skip
        self.router = router
        self.fallback = fallback
        self.streams = streams or Streams(router)
        self.control = control  # SageMaker's control plane: `POST /` with X-Amz-Target (JSON 1.1)
        self.async_invocations = async_invocations  # InvokeEndpointAsync: /endpoints/{name}/async-invocations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_invocations(scope["path"]):
            status, headers, body = await self._invocations(scope, receive)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        elif scope["type"] == "http" and is_stream(scope["path"]):
            await self.streams(scope, receive, send)
            return
        elif scope["type"] != "http":
            pass  # the lifespan: starlette's
        elif self.control is not None and scope["path"] == "/" and scope["method"] == "POST":
            await self.control(scope, receive, send)
            return
        elif self.async_invocations is not None and is_async(scope["path"]):
            await self.async_invocations(scope, receive, send)
            return
        await self.fallback(scope, receive, send)

    async def _invocations(self, scope: Scope, receive: Receive) -> Reply:
        if scope["method"] != "POST":  # starlette would say 404: the path exists, for POST only
            return render(UnsupportedMethod(f"{scope['method']} is not supported on {scope['path']}."))
        try:
            return await self.router.invocations(scope, receive)
        except Exception:  # a bug, not an outcome: logged once, never a traceback to the client
            log.exception("unexpected failure handling POST %s", scope["path"])
            return render(InternalFailure("An internal error occurred in coserve."))


def build_app(router: Router, extra: Sequence[BaseRoute] = (), streams: StreamObserver | None = None,
              control: ASGIApp | None = None, async_invocations: ASGIApp | None = None) -> FrontDoorApp:  # fmt: skip
    """`extra`: routes outside the runtime API (GET /metrics, GET /coserve/status); `streams`: stream figures;
    `control`: SageMaker's control plane, for `POST /`; `async_invocations`: InvokeEndpointAsync's handler."""
    fallback = Starlette(
        routes=[Route("/ping", router.ping, methods=["GET"]), *extra],
        lifespan=lambda app: _lifespan(router),
        exception_handlers={404: _unknown, 405: _unknown},
    )
    return FrontDoorApp(router, fallback, Streams(router, streams), control, async_invocations)


async def _unknown(request: Request, exc: Exception) -> Response:
    """A path or method the API does not have, in SageMaker's error shape (starlette's own is plain text)."""
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return _response(UnsupportedMethod(f"{request.method} is not supported on {request.url.path}."))
    return _response(UnknownOperationException(f"No operation at {request.method} {request.url.path}."))


@contextlib.asynccontextmanager
async def _lifespan(router: Router) -> AsyncIterator[None]:
    yield
    await router.upstream.close()
