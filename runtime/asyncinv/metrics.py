"""Asynchronous inference's figures for Prometheus, under SageMaker's names in the help text.

- `coserve_async_backlog_size{endpoint}` (ApproximateBacklogSize: queued or in flight) and
  `coserve_async_oldest_request_age_seconds{endpoint}` (ApproximateAgeOfOldestRequest) are read from the
  queue's file at scrape time, so any process that can open it reports them (`BacklogCollector`).
- `coserve_async_request_latency_microseconds{endpoint,outcome}` (enqueued to answer written) and
  `coserve_async_queue_wait_microseconds{endpoint}` (enqueued to claimed) are observed by the worker's process
  (`LatencyMetrics.observe`, the worker's observer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.asyncinv.job import Done
from runtime.asyncinv.queue import AsyncQueue

# Microseconds, as SageMaker reports latency: 10 ms to 6 hours (the longest RequestTTLSeconds).
BUCKETS_US = tuple(float(s) * 1e6 for s in (0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600))


class BacklogCollector(Collector):
    def __init__(self, queue: AsyncQueue, clock: Callable[[], float] = time.time) -> None:
        self.queue, self.clock = queue, clock

    def collect(self) -> Iterator[Metric]:
        backlog = self.queue.backlog(self.clock())
        size = GaugeMetricFamily("coserve_async_backlog_size", "ApproximateBacklogSize: asynchronous requests "
                                 "queued or in flight", labels=["endpoint"])  # fmt: skip
        age = GaugeMetricFamily("coserve_async_oldest_request_age_seconds", "ApproximateAgeOfOldestRequest: "
                                "seconds since the oldest of them was queued", labels=["endpoint"])  # fmt: skip
        for endpoint, b in sorted(backlog.items()):
            size.add_metric([endpoint], b.size)
            age.add_metric([endpoint], b.oldest_age_s)
        yield size
        yield age


class LatencyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "coserve_async_request_latency_microseconds", "Asynchronous requests: queued to answer written",
            ["endpoint", "outcome"], registry=registry, buckets=BUCKETS_US,
        )  # fmt: skip
        self.wait = Histogram(
            "coserve_async_queue_wait_microseconds", "Asynchronous requests: queued to sent to the model",
            ["endpoint"], registry=registry, buckets=BUCKETS_US,
        )  # fmt: skip

    def observe(self, done: Done) -> None:
        self.latency.labels(done.endpoint, "done" if done.ok else "failed").observe(done.total_s * 1e6)
        self.wait.labels(done.endpoint).observe(done.waited_s * 1e6)


def register(registry: CollectorRegistry, queue: AsyncQueue) -> LatencyMetrics:
    """Both on `registry`; pass the result's `observe` to AsyncWorker as its observer."""
    registry.register(BacklogCollector(queue))
    return LatencyMetrics(registry)
