"""The supervisor's snapshot as Prometheus families, built at scrape time in whichever process serves it.

Built afresh from each snapshot, so a container that is gone has no series any more. Each container's series
carry its own endpoint and variant, and its `generation`: while an update runs two generations of one hostname
side by side, each is its own series. The host's figures (shared volume, artifact cache, admission's ledger)
repeat under each endpoint's labels, as SageMaker reports an instance's figures under each of its variants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.metrics.requests import LABELS
from runtime.metrics.snapshot import ContainerSample, HostMemory, Snapshot, SnapshotSource
from runtime.supervisor import State

CONTAINER_LABELS = [*LABELS, "generation"]
# name, help, kind, value: the per-container families (labels endpoint, variant, container, generation)
_PER_CONTAINER: tuple[tuple[str, str, str, Callable[[ContainerSample], float | None]], ...] = (
    ("coserve_container_restarts", "restarts after an unexpected exit", "counter", lambda c: c.restarts),
    ("coserve_container_oom_kills", "OOM kills in the container's cgroup", "counter", lambda c: c.oom_kills),
    ("coserve_container_ready_seconds", "spawn to readiness, latest start", "gauge", lambda c: c.ready_seconds),
    ("coserve_container_cpu_seconds", "CPU time of the container's cgroup", "counter", lambda c: c.cpu_seconds),
    ("coserve_container_cpu_utilization_percent", "CPUUtilization: 0-100 x cores", "gauge", lambda c: c.cpu_percent),
    ("coserve_container_memory_utilization_percent", "MemoryUtilization: of the container's limit "
     "(of the host's memory without one)", "gauge", lambda c: c.memory_percent),
    ("coserve_container_memory_bytes", "memory use of the container's cgroup", "gauge", lambda c: c.memory_bytes),
    ("coserve_container_memory_limit_bytes", "the cgroup's memory limit, else the host's memory", "gauge",
     lambda c: c.memory_limit_bytes),
    ("coserve_container_pids", "processes and threads in the container's cgroup", "gauge", lambda c: c.pids),
    ("coserve_container_cpu_throttled_periods", "CFS periods in which the container hit its CPU quota", "counter",
     lambda c: c.cpu_throttled_periods),
    ("coserve_container_cpu_throttled_seconds", "time the container's tasks waited for CPU quota", "counter",
     lambda c: c.cpu_throttled_seconds),
    ("coserve_container_memory_request_bytes", "MemoryRequest: memory admission reserved for the container",
     "gauge", lambda c: c.memory_request_bytes),
    ("coserve_container_cpu_request_cores", "CpuRequest: cores admission reserved", "gauge",
     lambda c: c.cpu_request_cores),
    ("coserve_container_cpu_limit_cores", "Cpus: the container's CPU quota", "gauge", lambda c: c.cpu_limit_cores),
)  # fmt: skip
# the host's memory as admission sees it (labels endpoint, variant); absent without coserve's isolation
_HOST: tuple[tuple[str, str, Callable[[HostMemory], float]], ...] = (
    ("coserve_host_memory_capacity_bytes", "host memory, or the limit of coserve's own cgroup",
     lambda h: h.capacity_bytes),
    ("coserve_host_memory_reserved_bytes", "the containers' memory requests plus coserve's own reserve",
     lambda h: h.reserved_bytes),
    ("coserve_host_memory_requests_bytes", "the containers' memory requests",
     lambda h: h.reserved_bytes - h.reserve_bytes),
    ("coserve_host_memory_free_bytes", "capacity less reserved: what a further request could get",
     lambda h: h.free_bytes),
    ("coserve_host_memory_limits_bytes", "the containers' memory limits added up", lambda h: h.limits_bytes),
    ("coserve_host_memory_overcommit_bytes", "how far limits plus reserve pass the capacity",
     lambda h: h.overcommit_bytes),
)  # fmt: skip
_PER_VARIANT: tuple[tuple[str, str, str, Callable[[Snapshot], float]], ...] = (
    ("coserve_disk_utilization_percent", "DiskUtilization of the shared volume", "gauge", lambda s: s.disk_percent),
    ("coserve_artifact_cache_hits", "artifacts found in the cache", "counter", lambda s: s.cache_hits),
    ("coserve_artifact_cache_misses", "artifacts not in the cache", "counter", lambda s: s.cache_misses),
    ("coserve_artifact_fetched_bytes", "artifact bytes downloaded", "counter", lambda s: s.bytes_fetched),
    ("coserve_artifact_cache_bytes", "size of the artifact cache", "gauge", lambda s: s.cache_bytes),
    ("coserve_artifact_cache_evictions", "artifacts evicted to stay within the cache budget", "counter",
     lambda s: s.cache_evictions),
    ("coserve_stats_timestamp_seconds", "when the supervisor took this sample", "gauge", lambda s: s.at),
)  # fmt: skip


def _family(name: str, doc: str, kind: str, labels: list[str]) -> CounterMetricFamily | GaugeMetricFamily:
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, doc, labels=labels)


class SnapshotCollector(Collector):
    """Yields nothing until the supervisor's first sample: absent beats wrong zeros."""

    def __init__(self, source: SnapshotSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snap = self.source.latest()
        if snap is None:
            return
        yield self._states(snap)
        for name, doc, kind, value in _PER_CONTAINER:
            family = _family(name, doc, kind, CONTAINER_LABELS)
            for c in snap.containers:
                figure = value(c)
                if figure is not None:
                    family.add_metric(_labels(c), figure)
            yield family
        variants = _variants(snap)
        for name, doc, kind, of in _PER_VARIANT:
            family = _family(name, doc, kind, ["endpoint", "variant"])
            for labels in variants:
                family.add_metric(labels, of(snap))
            yield family
        if snap.host is not None:
            yield from _host(variants, snap.host)

    @staticmethod
    def _states(snap: Snapshot) -> GaugeMetricFamily:
        """One series per state, 1 for the current one, as prometheus_client's Enum does."""
        family = GaugeMetricFamily("coserve_container_state", "lifecycle state", labels=[*CONTAINER_LABELS, "state"])
        for c in snap.containers:
            for state in State:
                family.add_metric([*_labels(c), state.value], _is(c, state))
        return family


def _labels(c: ContainerSample) -> list[str]:
    return [c.endpoint, c.variant, c.hostname, str(c.generation)]


def _variants(snap: Snapshot) -> list[list[str]]:
    """The (endpoint, variant) label values of the host's figures: each endpoint's; a host with none has its
    figures all the same, under the snapshot's own (empty) names."""
    return [[e, v] for e, v, _ in snap.endpoints()] or [[snap.endpoint, snap.variant]]


def _host(variants: list[list[str]], host: HostMemory) -> Iterator[Metric]:
    for name, doc, figure in _HOST:
        gauge = GaugeMetricFamily(name, doc, labels=["endpoint", "variant"])
        for labels in variants:
            gauge.add_metric(labels, figure(host))
        yield gauge


def _is(c: ContainerSample, state: State) -> float:
    return 1.0 if c.state == state.value else 0.0
