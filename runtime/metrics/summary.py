"""Request figures per container, read back from collected Prometheus families.

One reader for every consumer (the status endpoint, EMF), whether the families came from this process's
registry or from all gunicorn workers' files, so the figures they show are the ones /metrics shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client.metrics_core import Metric

K = TypeVar("K")

COUNTERS = {
    "coserve_invocations_total": "invocations",
    "coserve_invocation_4xx_errors_total": "errors_4xx",
    "coserve_invocation_5xx_errors_total": "errors_5xx",
}
HISTOGRAMS = {
    "coserve_container_latency_microseconds": "container",
    "coserve_model_latency_microseconds": "model",
    "coserve_overhead_latency_microseconds": "overhead",
}


@dataclass
class Histo:
    count: float = 0.0
    sum: float = 0.0  # microseconds
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count

    def to_json(self) -> dict[str, object]:
        bounds = sorted(self.buckets)
        return {"count": self.count, "sum": self.sum,
                "buckets": [["+Inf" if math.isinf(b) else b, self.buckets[b]] for b in bounds]}  # fmt: skip


@dataclass
class Figures:
    invocations: float = 0.0
    errors_4xx: float = 0.0
    errors_5xx: float = 0.0
    latency: dict[str, Histo] = field(default_factory=lambda: {k: Histo() for k in HISTOGRAMS.values()})

    def to_json(self) -> dict[str, object]:
        return {"invocations": self.invocations, "errors_4xx": self.errors_4xx, "errors_5xx": self.errors_5xx,
                "latency": {k: h.to_json() for k, h in self.latency.items()}}  # fmt: skip


def summarize(families: Iterable[Metric]) -> dict[str, Figures]:
    """Figures by container label ("" is the variant: front-door answers, Serial requests), every endpoint's
    containers of one name added together."""
    return _summarize(families, lambda labels, container: container)


def summarize_endpoints(families: Iterable[Metric]) -> dict[tuple[str, str], Figures]:
    """Figures by (endpoint, container) labels: each endpoint's own, "" the variant's as in `summarize`."""
    return _summarize(families, lambda labels, container: (labels.get("endpoint", ""), container))


def _summarize(families: Iterable[Metric], key: Callable[[Mapping[str, str], str], K]) -> dict[K, Figures]:
    out: dict[K, Figures] = {}
    for family in families:
        for s in family.samples:
            container = s.labels.get("container")
            if container is None:
                continue
            figures = out.setdefault(key(s.labels, container), Figures())
            if s.name in COUNTERS:
                setattr(figures, COUNTERS[s.name], getattr(figures, COUNTERS[s.name]) + s.value)
                continue
            base, _, suffix = s.name.rpartition("_")
            if base not in HISTOGRAMS:
                continue
            histo = figures.latency[HISTOGRAMS[base]]
            if suffix == "count":
                histo.count += s.value
            elif suffix == "sum":
                histo.sum += s.value
            elif suffix == "bucket":
                le = float(s.labels["le"])
                histo.buckets[le] = histo.buckets.get(le, 0.0) + s.value
    return out


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) pairs; None without samples."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank, lower, below = q * buckets[-1][1], 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower  # the highest finite bound, as Prometheus answers
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower
