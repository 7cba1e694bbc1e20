"""The front door: SageMaker's runtime API as an ASGI app (starlette). No process handles here."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runtime.errors import InternalFailure, SageMakerError, ValidationError
from runtime.router.invoke import TARGET, Limits, Result, invoke, targets
from runtime.router.upstream import Upstream
from runtime.routing import Route as RouteEntry
from runtime.routing import TableSource

log = logging.getLogger("runtime.router")
TRACE = "x-coserve-trace"
# (request, body, endpoint name, target hostname) -> None, or raises a SageMakerError (auth plugs in here)
Guard = Callable[[Request, bytes, str, str | None], None]
# Called once per invocation: (routes targeted, result, seconds in coserve). A request the front door answered
# itself (ValidationError, access denied, container not RUNNING) has a result with no hops.
Observer = Callable[[tuple[str, ...], Result, float], None]


@dataclass(frozen=True)
class RouterSettings:
    timeout_s: float = 60.0
    max_payload: int = 6 * 2**20


class Router:
    def __init__(self, source: TableSource, settings: RouterSettings,
                 guard: Guard | None = None, observer: Observer | None = None) -> None:  # fmt: skip
        self.source = source
        self.settings = settings
        self.guard = guard
        self.observer = observer
        self.upstream = Upstream()
        self.limits = Limits(settings.timeout_s, settings.max_payload)

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        table = self.source.get()
        routes: tuple[RouteEntry, ...] = ()
        try:
            name = request.path_params.get("endpoint", table.endpoint_name)
            body = await _read_body(request, self.settings.max_payload)
            target = request.headers.get(TARGET)
            if self.guard is not None:
                self.guard(request, body, name, target)  # before any answer that says what exists
            if name.lower() != table.endpoint_name.lower():
                raise ValidationError(f"Endpoint {name} not found.")
            routes = targets(table, target)
            result = await invoke(self.upstream, routes, body, request.headers, self.limits)
        except SageMakerError as exc:
            result = Result(None, (), exc)  # the front door answered without a container: metrics count it too
        if self.observer is not None:
            self.observer(tuple(r.hostname for r in routes), result, time.perf_counter() - started)
        if result.error is not None:
            raise result.error
        answer = result.answer
        assert answer is not None
        headers = {"x-Amzn-Invoked-Production-Variant": table.variant_name}
        for key in ("X-Amzn-SageMaker-Custom-Attributes", "X-Amzn-SageMaker-New-Session-Id",
                    "X-Amzn-SageMaker-Closed-Session-Id"):  # fmt: skip
            if key in answer.headers:
                headers[key] = answer.headers[key]
        if TRACE in request.headers:
            headers["X-Coserve-Trace"] = ", ".join(
                f"{h.hostname};status={h.status};ms={h.seconds * 1000:.2f};bytes={h.bytes_out};type={h.content_type}"
                for h in result.hops
            )
        if "Content-Type" in answer.headers:
            headers["Content-Type"] = answer.headers["Content-Type"]  # verbatim: starlette would add a charset
        return Response(answer.body, 200, headers)

    async def ping(self, request: Request) -> Response:
        table = self.source.get()
        down = {r.hostname: r.state for r in table.not_running()}
        if down:
            doc = {"status": "Unhealthy", "message": f"containers not running: {', '.join(down)}", "containers": down}
            return Response(json.dumps(doc), 503, media_type="application/json")
        return Response(json.dumps({"status": "Healthy"}), 200, media_type="application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ValidationError:
    return ValidationError(f"Request payload of {size} bytes exceeds the maximum allowed size of {limit} bytes.")


def _errors(
    router: Router, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Every failure leaves as a SageMaker error shape; nothing else, never a traceback."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SageMakerError as exc:
            return Response(exc.body(), exc.status, exc.headers(), media_type="application/json")
        except Exception:
            log.exception("unexpected failure handling %s %s", request.method, request.url.path)
            exc2 = InternalFailure("An internal error occurred in coserve.")
            return Response(exc2.body(), exc2.status, exc2.headers(), media_type="application/json")

    return wrapped


def build_app(router: Router, extra: Sequence[BaseRoute] = ()) -> Starlette:
    """`extra`: routes outside the runtime API (GET /metrics, GET /coserve/status)."""
    invocations = _errors(router, router.invocations)
    return Starlette(
        routes=[
            Route("/endpoints/{endpoint}/invocations", invocations, methods=["POST"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/ping", router.ping, methods=["GET"]),
            *extra,
        ],
        lifespan=lambda app: _lifespan(router),
    )


@contextlib.asynccontextmanager
async def _lifespan(router: Router) -> AsyncIterator[None]:
    yield
    await router.upstream.close()
