"""Invocation figures, counted in the router process(es) once per request: the observer on the hot path.

What counts where (SageMaker's per-container semantics, documented in runtime/metrics/__init__.py):
- each call the front door makes to a container counts one `Invocations` for that container, its time one
  `ContainerLatency` sample; a 4xx answer counts under its `Invocation4XXErrors`, a 5xx answer, a reset,
  a timeout or an oversize hand-on in a Serial chain under its `Invocation5XXErrors`;
- a request the front door answers itself (ValidationError, access denied, container not RUNNING) counts
  under container "" (the variant): one `Invocations`, and a 4XX or 5XX by the status it was answered with;
- `ModelLatency` (the sum over the containers called) and `OverheadLatency` (the rest of the request's
  time in coserve) once per request that called a container, labelled with the Direct target, or "" for
  a Serial pipeline.
- a response stream counts as above once it ends (its container's `ContainerLatency` is the whole stream; a
  stream broken after its first byte counts under that container's `Invocation5XXErrors`), and besides:
  `StreamFirstByteLatency` (request sent to first byte), the bytes streamed, and the streams broken by
  ModelStreamError code (`StreamBroken`, `ModelInvocationTimeExceeded`), or `ClientClosed` when the client
  left mid-stream (counted there only: not the container's error).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from runtime.routing import EndpointTable

LABELS = ("endpoint", "variant", "container")
# Microseconds, as SageMaker reports latency: 100 µs (a loopback hop) to a minute (InvocationTimeout).
BUCKETS_US = (
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
    250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
)  # fmt: skip
VARIANT = ""  # the container label of figures that belong to the variant, not one container


# What observe() reads of the router's result (runtime.router.invoke.Result): described here, since metrics sit
# beside the router, not above it.
class Hop(Protocol):
    @property
    def hostname(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def seconds(self) -> float: ...


class Failure(Protocol):
    @property
    def status(self) -> int: ...


class Outcome(Protocol):
    @property
    def hops(self) -> Sequence[Hop]: ...
    @property
    def error(self) -> Failure | None: ...
    @property
    def failed(self) -> str | None: ...
    @property
    def endpoint(self) -> EndpointTable | None: ...


class _Histogram:
    """One histogram child's value cells: an observation is two increments, its bucket found by bisection.

    prometheus_client's own observe() checks the child, then walks the buckets in Python. The cells are its
    values (in-process or, in workers, the multiprocess files), so what /metrics reads is the same; they are
    prometheus_client 0.26's attributes (pinned in pyproject.toml; tests/runtime/metrics read the figures back)."""

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, child: Histogram) -> None:
        self.bounds: list[float] = list(child._upper_bounds)  # ends with +Inf: every amount has a bucket
        self.buckets: list[Any] = child._buckets
        self.sum: Any = child._sum

    def observe(self, amount: float) -> None:
        self.sum.inc(amount)
        self.buckets[bisect.bisect_left(self.bounds, amount)].inc(1)


class _Children:
    """One label set's value cells, bound once: `labels()` costs more than the increment itself."""

    def __init__(self, m: RequestMetrics, container: str, endpoint: EndpointTable | None = None) -> None:
        values = (
            (m.endpoint, m.variant, container) if endpoint is None else (endpoint.name, endpoint.variant, container)
        )
        self.invocations: Any = m.invocations.labels(*values)._value
        self.errors_4xx: Any = m.errors_4xx.labels(*values)._value
        self.errors_5xx: Any = m.errors_5xx.labels(*values)._value
        self.container_latency = _Histogram(m.container_latency.labels(*values))
        self.model_latency = _Histogram(m.model_latency.labels(*values))
        self.overhead_latency = _Histogram(m.overhead_latency.labels(*values))
        self.stream_first_byte = m.stream_first_byte.labels(*values)
        self.stream_bytes = m.stream_bytes.labels(*values)


class RequestMetrics:
    """Counters and histograms in one registry; in a gunicorn worker prometheus_client keeps their values in
    PROMETHEUS_MULTIPROC_DIR, so every worker's /metrics sums all workers."""

    def __init__(self, endpoint: str, variant: str, mode: str, metrics: tuple[Counter, Counter, Counter,
                 Histogram, Histogram, Histogram], streams: tuple[Histogram, Counter, Counter]) -> None:  # fmt: skip
        self.endpoint = endpoint
        self.variant = variant
        self.direct = mode == "Direct"
        self.invocations, self.errors_4xx, self.errors_5xx = metrics[:3]
        self.container_latency, self.model_latency, self.overhead_latency = metrics[3:]
        self.stream_first_byte, self.stream_bytes, self.broken_streams = streams
        self._children: dict[str, _Children] = {}
        # Other endpoints on the host (their labels from the routing table): name -> (variant, container -> cells).
        self._others: dict[str, tuple[str, dict[str, _Children]]] = {}

    @classmethod
    def register(cls, registry: CollectorRegistry, endpoint: str, variant: str, mode: str) -> RequestMetrics:
        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, LABELS, registry=registry)

        def histogram(name: str, doc: str) -> Histogram:
            return Histogram(name, doc, LABELS, registry=registry, buckets=BUCKETS_US)

        return cls(endpoint, variant, mode, (
            counter("coserve_invocations", "Invocations: requests sent to the container"),
            counter("coserve_invocation_4xx_errors", "Invocation4XXErrors"),
            counter("coserve_invocation_5xx_errors", "Invocation5XXErrors"),
            histogram("coserve_container_latency_microseconds", "ContainerLatency: the container's time to answer"),
            histogram("coserve_model_latency_microseconds", "ModelLatency: containers' time, summed over a chain"),
            histogram("coserve_overhead_latency_microseconds", "OverheadLatency: time in coserve less ModelLatency"),
        ), (
            histogram("coserve_stream_first_byte_microseconds", "Response streams: request sent to first byte"),
            counter("coserve_stream_bytes", "Response streams: payload bytes relayed to clients"),
            Counter("coserve_streams_broken", "Response streams ended by a ModelStreamError", (*LABELS, "code"),
                    registry=registry),
        ))  # fmt: skip

    def of(self, container: str, endpoint: EndpointTable | None = None) -> _Children:
        """One container's cells; `endpoint`: the endpoint the request went to (None: the one registered)."""
        cache = self._children
        if endpoint is not None and (endpoint.name != self.endpoint or endpoint.variant != self.variant):
            other = self._others.get(endpoint.name)
            if other is None or other[0] != endpoint.variant:
                other = self._others[endpoint.name] = (endpoint.variant, {})
            cache = other[1]
        children = cache.get(container)
        if children is None:
            children = cache[container] = _Children(self, container, endpoint)
        return children

    def observe(self, routes: tuple[str, ...], result: Outcome, seconds: float) -> None:
        """The router's observer: a handful of increments, no I/O beyond prometheus_client's own."""
        endpoint = result.endpoint
        if not result.hops:
            frontdoor = self.of(VARIANT, endpoint)
            frontdoor.invocations.inc(1)
            status = result.error.status if result.error is not None else 500
            (frontdoor.errors_4xx if 400 <= status < 500 else frontdoor.errors_5xx).inc(1)
            return
        model = 0.0
        for hop in result.hops:
            children = self.of(hop.hostname, endpoint)
            children.invocations.inc(1)
            children.container_latency.observe(hop.seconds * 1e6)
            model += hop.seconds
            if hop.hostname == result.failed:  # only the last hop can fail; it ends the chain
                (children.errors_4xx if 400 <= hop.status < 500 else children.errors_5xx).inc(1)
        direct = self.direct if endpoint is None else endpoint.mode == "Direct"
        request = self.of(routes[0] if direct and routes else VARIANT, endpoint)
        request.model_latency.observe(model * 1e6)
        request.overhead_latency.observe(max(seconds - model, 0.0) * 1e6)

    # The streaming route's figures (runtime.router.stream.StreamObserver).
    def first_byte(self, container: str, seconds: float, endpoint: EndpointTable | None = None) -> None:
        self.of(container, endpoint).stream_first_byte.observe(seconds * 1e6)

    def streamed(self, container: str, size: int, endpoint: EndpointTable | None = None) -> None:
        self.of(container, endpoint).stream_bytes.inc(size)

    def broken(self, container: str, code: str, endpoint: EndpointTable | None = None) -> None:
        name, variant = (self.endpoint, self.variant) if endpoint is None else (endpoint.name, endpoint.variant)
        self.broken_streams.labels(name, variant, container, code).inc()
