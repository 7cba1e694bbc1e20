"""The advisor's figures from a running coserve: its /metrics, read a few times.

Per container: memory is the highest of the readings (and of a peak gauge, where /metrics has one),
CPU the highest CPUUtilization reading (100 per core), requests per second from the invocation counter
between the first and last reading, p99 from the container-latency histogram since start, and its CPU
limit (Cpus) where it has one, so that `--emit` keeps it.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from runtime.cli.plan.model import Workload
from runtime.metrics.summary import quantile, summarize

MEMORY = ("coserve_container_memory_bytes", "coserve_container_memory_peak_bytes")
CPU = "coserve_container_cpu_utilization_percent"
CPU_LIMIT = "coserve_container_cpu_limit_cores"  # present only for a container with Cpus
Reading = dict[str, dict[str, float]]  # container -> figure name -> value


def read_metrics(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout) as r:
        return r.read().decode()  # type: ignore[no-any-return]


def workloads_from_metrics(url: str, samples: int, interval: float,
                           fetch: Callable[[str], str] = read_metrics) -> list[Workload]:  # fmt: skip
    """Raises OSError when the URL cannot be read."""
    texts: list[tuple[float, str]] = []
    for n in range(samples):
        if n:
            time.sleep(interval)  # the rate's window, not a synchronisation
        texts.append((time.monotonic(), fetch(url)))
    return workloads_from_texts(texts)


def workloads_from_texts(texts: list[tuple[float, str]]) -> list[Workload]:
    readings = [(at, _reading(text)) for at, text in texts]
    first_at, first = readings[0]
    last_at, last = readings[-1]
    figures = summarize(text_string_to_metric_families(texts[-1][1]))
    out = []
    for name in sorted(last):
        memory = max(r.get(name, {}).get(m, 0.0) for _, r in readings for m in MEMORY)
        cpus = max(r.get(name, {}).get(CPU, 0.0) for _, r in readings) / 100.0
        rps = None
        if last_at > first_at:
            done = last[name].get("invocations", 0.0) - first.get(name, {}).get("invocations", 0.0)
            rps = max(done, 0.0) / (last_at - first_at)
        p99 = None
        if name in figures:
            histo = figures[name].latency["container"]
            us = quantile(sorted(histo.buckets.items()), 0.99)
            p99 = None if us is None else us / 1000.0
        out.append(Workload(name, int(memory), round(cpus, 3), rps, p99, cpu_limit=last[name].get(CPU_LIMIT)))
    return out


def _reading(text: str) -> Reading:
    out: Reading = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            container = s.labels.get("container")
            if not container:
                continue
            if s.name in (*MEMORY, CPU, CPU_LIMIT):
                out.setdefault(container, {})[s.name] = s.value
            elif s.name == "coserve_invocations_total":
                figures = out.setdefault(container, {})
                figures["invocations"] = figures.get("invocations", 0.0) + s.value
    return out
