"""Wake figures on /metrics: requests that waited for a wake (counted in each router process, aggregated across
gunicorn workers like the request metrics), and the supervisor side's wakes, evictions and time to wake (read
from its `stats.json` at each scrape)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from runtime.components.stats import WakeStats

WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class WaitMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("coserve_component_waited_requests", "Requests held while their inference "
                                "component (or container) woke, by how the wait ended", ["outcome"],
                                registry=registry)  # fmt: skip
        self.seconds = Histogram("coserve_component_wait_seconds", "Time requests were held for a wake",
                                 registry=registry, buckets=WAIT_BUCKETS)  # fmt: skip

    def observe(self, outcome: str, seconds: float) -> None:
        """`outcome`: woken | timed_out | short (no memory for a copy)."""
        self.requests.labels(outcome).inc()
        self.seconds.observe(seconds)


class WakeCollector(Collector):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        stats = WakeStats.read(self.folder) or WakeStats()
        yield CounterMetricFamily("coserve_component_wakes", "Wakes of inference components (and deployment-file "
                                  "containers) stopped for idleness", value=stats.wakes)  # fmt: skip
        yield CounterMetricFamily("coserve_component_evictions", "Idle-eligible components scaled to zero to make "
                                  "room for a wake", value=stats.evictions)  # fmt: skip
        yield SummaryMetricFamily("coserve_component_time_to_wake_seconds", "From a wake asked for to a copy (or "
                                  "container) running", count_value=stats.woken,
                                  sum_value=stats.wake_seconds)  # fmt: skip
