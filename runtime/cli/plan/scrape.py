"""The advisor's figures from a running coserve: its /metrics, read a few times.

Per container: memory is the highest of the readings (and of a peak gauge, where /metrics has one),
CPU the highest CPUUtilization reading (100 per core), requests per second from the invocation counter
between the first and last reading, p99 from the container-latency histogram since start, and its CPU
limit (Cpus) where it has one, so that `--emit` keeps it.

A container is its endpoint, hostname and generation (labels endpoint, container, generation): one host runs
many endpoints, and an update runs two generations of one hostname side by side, each with its own memory
and CPU. Each is its own workload, named by its hostname while no other container has it, else
`endpoint/hostname`, and `endpoint/hostname (generation N)` while an update runs. The router counts requests
per endpoint and hostname, not per generation, so they go to the newest generation only (as EMF does).
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from runtime.cli.plan.model import Workload
from runtime.metrics.summary import Figures, quantile, summarize_endpoints

MEMORY = ("coserve_container_memory_bytes", "coserve_container_memory_peak_bytes")
CPU = "coserve_container_cpu_utilization_percent"
CPU_LIMIT = "coserve_container_cpu_limit_cores"  # present only for a container with Cpus
Key = tuple[str, str, str]  # endpoint, container (hostname), generation ("" on the router's series)
Reading = dict[Key, dict[str, float]]  # container -> figure name -> value


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
    (first_at, first), (last_at, last) = readings[0], readings[-1]
    figures = summarize_endpoints(text_string_to_metric_families(texts[-1][1]))
    keys = _containers(last)
    names, newest = _names(keys), _newest(keys)
    out = []
    for key in keys:
        endpoint, host, _ = key
        memory = max(r.get(key, {}).get(m, 0.0) for _, r in readings for m in MEMORY)
        cpus = max(r.get(key, {}).get(CPU, 0.0) for _, r in readings) / 100.0
        rps = p99 = None
        if newest[endpoint, host] == key:
            counted = (endpoint, host, "")
            if last_at > first_at:
                done = _invocations(last, counted) - _invocations(first, counted)
                rps = max(done, 0.0) / (last_at - first_at)
            p99 = _p99(figures.get((endpoint, host)))
        out.append(Workload(names[key], int(memory), round(cpus, 3), rps, p99, cpu_limit=last[key].get(CPU_LIMIT)))
    return sorted(out, key=lambda w: w.name)


def _containers(reading: Reading) -> list[Key]:
    """The supervisor's containers (those with a generation), and any (endpoint, hostname) that only the
    router's series name (no sample of it yet): as before, a workload of its request figures."""
    sampled = {(e, h) for e, h, g in reading if g}
    return [k for k in reading if k[2] or (k[0], k[1]) not in sampled]


def _names(keys: list[Key]) -> dict[Key, str]:
    """The hostname alone while it is unique on the host (a single endpoint's names stay as they were)."""
    hosts = Counter(h for _, h, _ in keys)
    per_endpoint = Counter((e, h) for e, h, _ in keys)
    return {(e, h, g): h if hosts[h] == 1 else f"{e}/{h}" if per_endpoint[e, h] == 1 else f"{e}/{h} (generation {g})"
            for e, h, g in keys}  # fmt: skip


def _newest(keys: list[Key]) -> dict[tuple[str, str], Key]:
    out: dict[tuple[str, str], Key] = {}
    for k in keys:
        seen = out.get((k[0], k[1]))
        if seen is None or _generation(k) > _generation(seen):
            out[k[0], k[1]] = k
    return out


def _generation(k: Key) -> int:
    return int(k[2]) if k[2].isdigit() else 0


def _invocations(reading: Reading, key: Key) -> float:
    return reading.get(key, {}).get("invocations", 0.0)


def _p99(f: Figures | None) -> float | None:
    if f is None:
        return None
    us = quantile(sorted(f.latency["container"].buckets.items()), 0.99)
    return None if us is None else us / 1000.0


def _reading(text: str) -> Reading:
    out: Reading = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            container = s.labels.get("container")
            if not container:
                continue
            key = (s.labels.get("endpoint", ""), container, s.labels.get("generation", ""))
            if s.name in (*MEMORY, CPU, CPU_LIMIT):
                out.setdefault(key, {})[s.name] = s.value
            elif s.name == "coserve_invocations_total":
                figures = out.setdefault(key, {})
                figures["invocations"] = figures.get("invocations", 0.0) + s.value
    return out
