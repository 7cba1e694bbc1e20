"""The Invoker seam over the router's own invoke path: an asynchronous request reaches its endpoint's containers
exactly as InvokeEndpoint's would (the same routing table, upstream pool, MaxInFlight count and metrics), with the
request's InvocationTimeoutSeconds as the time limit instead of the router's InvocationTimeout.

InvokeEndpointAsync names no target container, so a Direct-mode endpoint answers InvokeEndpoint's
ValidationError (written to the failure location); a Serial endpoint runs its whole chain. The container's answer
is bounded by the router's MaxResponse, as InvokeEndpoint's is.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from runtime.asyncinv.outcome import Invoker
from runtime.errors import SageMakerError, render
from runtime.router import Router
from runtime.router.invoke import InvokeBounds, Result, find, invoke, targets

_Answer = tuple[int, Mapping[str, str], bytes]


def router_invoker(router: Router) -> Invoker:
    async def call(name: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> _Answer:
        started = time.perf_counter()
        result = await _invoke(router, name, body, headers, timeout_s)
        if router.observer is not None:
            router.observer(tuple(r.hostname for r in result.routes), result, time.perf_counter() - started)
        if result.error is not None:
            status, raw, answer = render(result.error)
            return status, {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}, answer
        assert result.answer is not None
        return result.answer.status, dict(result.answer.headers), result.answer.body

    return call


async def _invoke(router: Router, name: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Result:
    endpoint = find(router.source.get(), name)
    if isinstance(endpoint, SageMakerError):
        return Result(None, (), endpoint)
    routes = targets(endpoint, None)
    if isinstance(routes, SageMakerError):
        return Result(None, (), routes, None, endpoint)
    busy = router.in_flight.enter(routes)  # ServiceUnavailable: the worker tries again later
    if busy is not None:
        return Result(None, (), busy, None, endpoint, routes)
    try:
        bounds = InvokeBounds(timeout_s, router.bounds.max_payload)
        return await invoke(router.upstream, endpoint, routes, body, headers, bounds)
    finally:
        router.in_flight.leave(routes)
