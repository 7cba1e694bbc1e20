"""What a router process serves besides invocations: GET /metrics and GET /coserve/status.

Both are plain functions, so starlette runs them in its thread pool: a scrape reads files (the workers'
metric files, the supervisor's snapshot) and must not stall requests on the event loop.

Every container's request series exist from the start, at 0 (absent is not zero): the file endpoint's when the
process starts, and any other endpoint's containers when a scrape or status read first finds them in the
supervisor's snapshot. A request series is never removed: prometheus_client cannot take a series out of the
workers' files, and a counter that vanished would read as a reset; the snapshot's series do go with their
containers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from runtime.errors import SageMakerError
from runtime.metrics.collector import SnapshotCollector
from runtime.metrics.labels import EndpointLabels
from runtime.metrics.requests import VARIANT, RequestMetrics
from runtime.metrics.snapshot import Snapshot, SnapshotSource
from runtime.metrics.summary import Figures, summarize_endpoints
from runtime.routing import EndpointTable

# (ASGI scope, headers) -> None, or raises the SageMakerError to answer (runtime.router.guard.make_page_guard)
PageGuard = Callable[[Scope, Headers], None]


class RouterMetrics:
    """One router process's metrics. `multiproc_dir` set: request figures are every worker's, from the files
    prometheus_client writes there; unset: this process's own registry holds them."""

    def __init__(self, labels: EndpointLabels, snapshots: SnapshotSource, multiproc_dir: Path | None = None) -> None:
        self.labels = labels
        self.snapshots = snapshots
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry()
        self.exposed = self.registry
        self.requests: RequestMetrics | None = None
        self._known: set[tuple[str, str, str]] = set()  # (endpoint, variant, container) whose series exist here

    def start(self) -> RequestMetrics:
        """Register the request metrics; the returned object's `observe` is the router's observer. Once per process:
        a second call (the status listener beside the front door) returns the same object."""
        if self.requests is not None:
            return self.requests
        e = self.labels
        self.requests = RequestMetrics.register(self.registry, e.endpoint, e.variant, e.mode)
        for hostname in (VARIANT, *e.hostnames):
            self.requests.of(hostname)  # every series exists from the start, at 0: absent is not zero
        if self.multiproc_dir is not None:
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed, path=str(self.multiproc_dir))  # type: ignore[no-untyped-call]
        self.exposed.register(SnapshotCollector(self.snapshots))
        return self.requests

    def follow(self, snap: Snapshot | None) -> None:
        """Make the request series (at 0) of any container in `snap` that has none in this process yet."""
        if self.requests is None or snap is None:
            return
        for c in snap.containers:
            for name in (VARIANT, c.hostname):
                if (c.endpoint, c.variant, name) not in self._known:
                    self._known.add((c.endpoint, c.variant, name))
                    self.requests.of(name, EndpointTable(c.endpoint, c.variant, c.mode, ()))

    def request_families(self) -> list[Metric]:
        if self.multiproc_dir is not None:
            reader = MultiProcessCollector(None, path=str(self.multiproc_dir))  # type: ignore[no-untyped-call]
            return list(reader.collect())  # type: ignore[no-untyped-call]
        return list(self.registry.collect())

    def status(self) -> dict[str, Any]:
        """Each endpoint with its containers' states, resources and request figures, in one document. At the top,
        the first endpoint's names and figures and every container, as it was with one endpoint per host."""
        snap, e = self.snapshots.latest(), self.labels
        self.follow(snap)
        figures = summarize_endpoints(self.request_families())
        if snap is not None:
            names, samples = snap.endpoints(), [asdict(c) for c in snap.containers]
        else:  # before the supervisor's first sample: the file endpoint's containers, state not known yet
            names = [(e.endpoint, e.variant, e.mode)]
            samples = [{"hostname": h, "endpoint": e.endpoint, "variant": e.variant, "mode": e.mode,
                        "state": "UNKNOWN"} for h in e.hostnames]  # fmt: skip
        endpoints = [
            {"endpoint": name, "variant": variant, "mode": mode,
             "containers": [{**c, **figures.get((name, c["hostname"]), Figures()).to_json()}
                            for c in samples if c["endpoint"] == name],
             "variant_figures": figures.get((name, VARIANT), Figures()).to_json()}
            for name, variant, mode in names
        ]  # fmt: skip
        none = {"endpoint": e.endpoint, "variant": e.variant, "mode": e.mode, "variant_figures": Figures().to_json()}
        first = endpoints[0] if endpoints else none
        return {
            "endpoint": first["endpoint"], "variant": first["variant"], "mode": first["mode"],
            "at": snap.at if snap else None, "disk_percent": snap.disk_percent if snap else None,
            "host": asdict(snap.host) if snap and snap.host else None,
            "containers": [c for ep in endpoints for c in ep["containers"]],
            "variant_figures": first["variant_figures"], "endpoints": endpoints,
        }  # fmt: skip

    def routes(self, guard: PageGuard | None = None) -> list[BaseRoute]:
        """`guard` (under Coserve.Auth) checks each request's signature and policy before anything is read."""

        def metrics(request: Request) -> Response:
            refused = _refused(guard, request)
            if refused is not None:
                return refused
            self.follow(self.snapshots.latest())
            return Response(generate_latest(self.exposed), media_type=CONTENT_TYPE_LATEST)

        def status(request: Request) -> Response:
            refused = _refused(guard, request)
            return refused or Response(json.dumps(self.status()), media_type="application/json")

        return [Route("/metrics", metrics, methods=["GET"]), Route("/coserve/status", status, methods=["GET"])]


def _refused(guard: PageGuard | None, request: Request) -> Response | None:
    """The error answer for a request the guard refuses, in SageMaker's shape; None when it may proceed."""
    if guard is None:
        return None
    try:
        guard(request.scope, request.headers)
    except SageMakerError as exc:
        return Response(exc.body(), exc.status, headers=exc.headers(), media_type="application/json")
    return None
