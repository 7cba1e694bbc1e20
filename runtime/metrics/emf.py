"""CloudWatch Embedded Metric Format: one JSON line per container and one per variant, each interval.

Each endpoint's lines carry its own EndpointName and VariantName. While an update runs two generations of one
hostname side by side, each has its line (CPU, memory, restarts); the requests counted for that hostname,
which the router does not tell apart by generation, go on the newest generation's line only, so a sum over
the lines counts each request once.

The CloudWatch agent ships the lines unchanged. Counts are what happened during the interval (deltas of
the Prometheus counters); a latency is the interval's mean, since one EMF value cannot carry a
distribution (use the Prometheus histograms for percentiles); utilisations are the latest sample.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric

from runtime.config import MetricsConfig
from runtime.metrics.requests import VARIANT
from runtime.metrics.snapshot import ContainerSample, Snapshot
from runtime.metrics.summary import Figures, Histo, summarize_endpoints

Key = tuple[str, str]  # (endpoint, container) labels of the request figures (runtime.metrics.summary)
CONTAINER_DIMENSIONS = ["EndpointName", "VariantName", "ContainerName"]
VARIANT_DIMENSIONS = ["EndpointName", "VariantName"]


def _mean(now: Histo, before: Histo) -> float | None:
    count = now.count - before.count
    return (now.sum - before.sum) / count if count > 0 else None


def document(namespace: str, at_ms: int, dims: dict[str, str], values: dict[str, tuple[float | None, str]]) -> str:
    """One EMF line: the `_aws` directive naming the dimensions and metrics, each a root member."""
    present = {name: v for name, v in values.items() if v[0] is not None}
    directive = {"Namespace": namespace, "Dimensions": [list(dims)],
                 "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in present.items()]}  # fmt: skip
    doc: dict[str, Any] = {"_aws": {"Timestamp": at_ms, "CloudWatchMetrics": [directive]}, **dims}
    doc.update({name: value for name, (value, _) in present.items()})
    return json.dumps(doc)


class EmfWriter:
    def __init__(self, config: MetricsConfig, families: Callable[[], list[Metric]]) -> None:
        self.config = config
        self.families = families
        self._before: dict[Key, Figures] = {}
        self._snap_before: Snapshot | None = None
        self._next = 0.0

    def tick(self, now: float, snap: Snapshot | None) -> None:
        """Called on every supervise tick; writes when an interval has passed (`now` is monotonic)."""
        if not self._next:
            self._next = now + self.config.emf_interval_s
        elif now >= self._next and snap is not None:
            self._next += self.config.emf_interval_s * max(1, int((now - self._next) // self.config.emf_interval_s))
            self.flush(snap)

    def flush(self, snap: Snapshot) -> None:
        figures = summarize_endpoints(self.families())
        lines = self.lines(figures, snap)
        self._before, self._snap_before = figures, snap
        self._write("".join(f"{line}\n" for line in lines))

    def lines(self, now: dict[Key, Figures], snap: Snapshot) -> list[str]:
        at_ms, ns = int(snap.at * 1000), self.config.emf_namespace
        newest: dict[Key, int] = {}
        for c in snap.containers:
            newest[c.endpoint, c.hostname] = max(newest.get((c.endpoint, c.hostname), 0), c.generation)
        out = []
        for endpoint, variant, _ in snap.endpoints():
            base = {"EndpointName": endpoint, "VariantName": variant}
            for c in (c for c in snap.containers if c.endpoint == endpoint):
                values = self._container(c, now, newest[endpoint, c.hostname] == c.generation)
                out.append(document(ns, at_ms, {**base, "ContainerName": c.hostname}, values))
            out.append(document(ns, at_ms, base, self._variant(endpoint, now, snap)))
        return out

    def _container(self, c: ContainerSample, now: dict[Key, Figures], requests: bool) -> dict[str, Any]:
        """`requests`: this line carries the hostname's request figures (its newest generation's line)."""
        key = (c.endpoint, c.hostname)
        f, b = (now.get(key, Figures()), self._before.get(key, Figures())) if requests else (Figures(), Figures())
        old = next((o for o in self._snap_before.containers if (o.endpoint, o.hostname, o.generation)
                    == (c.endpoint, c.hostname, c.generation)), None) if self._snap_before else None  # fmt: skip
        values: dict[str, tuple[float | None, str]] = {
            "Invocations": (f.invocations - b.invocations, "None"),
            "Invocation4XXErrors": (f.errors_4xx - b.errors_4xx, "None"),
            "Invocation5XXErrors": (f.errors_5xx - b.errors_5xx, "None"),
            "ContainerLatency": (_mean(f.latency["container"], b.latency["container"]), "Microseconds"),
            "CPUUtilization": (c.cpu_percent, "Percent"),
            "MemoryUtilization": (c.memory_percent, "Percent"),
            "Restarts": (c.restarts - (old.restarts if old else 0), "Count"),
            "OOMKills": (c.oom_kills - (old.oom_kills if old else 0), "Count"),
        }
        if c.mode == "Direct":  # a Direct request is one container's: SageMaker reports these per container
            values["ModelLatency"] = (_mean(f.latency["model"], b.latency["model"]), "Microseconds")
            values["OverheadLatency"] = (_mean(f.latency["overhead"], b.latency["overhead"]), "Microseconds")
        return values

    def _variant(self, endpoint: str, everyone: dict[Key, Figures], snap: Snapshot) -> dict[str, Any]:
        now = {k[1]: f for k, f in everyone.items() if k[0] == endpoint}
        before = {k[1]: f for k, f in self._before.items() if k[0] == endpoint}

        def total(pick: Callable[[Figures], float], figures: dict[str, Figures]) -> float:
            return sum(pick(f) for f in figures.values())

        def merged(key: str, figures: dict[str, Figures]) -> Histo:
            return Histo(total(lambda f: f.latency[key].count, figures), total(lambda f: f.latency[key].sum, figures))

        def delta(pick: Callable[[Figures], float]) -> float:
            return total(pick, now) - total(pick, before)

        old = self._snap_before
        frontdoor = now.get(VARIANT, Figures()).invocations - before.get(VARIANT, Figures()).invocations
        return {
            "Invocations": (delta(lambda f: f.latency["model"].count) + frontdoor, "None"),
            "Invocation4XXErrors": (delta(lambda f: f.errors_4xx), "None"),
            "Invocation5XXErrors": (delta(lambda f: f.errors_5xx), "None"),
            "ModelLatency": (_mean(merged("model", now), merged("model", before)), "Microseconds"),
            "OverheadLatency": (_mean(merged("overhead", now), merged("overhead", before)), "Microseconds"),
            "DiskUtilization": (snap.disk_percent, "Percent"),
            "ArtifactCacheHits": (snap.cache_hits - (old.cache_hits if old else 0), "Count"),
            "ArtifactBytesFetched": (snap.bytes_fetched - (old.bytes_fetched if old else 0), "Bytes"),
        }  # fmt: skip

    def _write(self, text: str) -> None:
        target = self.config.emf_path
        if target == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        assert target is not None
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:  # opened per write, so logrotate may move the file at any time
            out.write(text)
