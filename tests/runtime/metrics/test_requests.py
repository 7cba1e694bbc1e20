"""Requests, limits and the host's reserved versus free memory: sampled, exposed, and shown by `coserve status`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from runtime.admission import Capacity, ledger
from runtime.cgroups import Stats
from runtime.cli.status import render
from runtime.config import parse_deployment
from runtime.metrics.collector import SnapshotCollector
from runtime.metrics.members import deployment_members
from runtime.metrics.sampler import Sampler
from runtime.metrics.snapshot import Snapshot, SnapshotSource
from runtime.storage.store import StoreStats
from runtime.supervisor.keys import ContainerKey

MIB, GIB = 2**20, 2**30
DOC: dict[str, Any] = {
    "EndpointName": "ep", "VariantName": "v", "InferenceExecutionConfig": {"Mode": "Direct"},
    "Containers": [{"ContainerHostname": "a", "Image": "process"}, {"ContainerHostname": "b", "Image": "process"}],
    "Coserve": {"Containers": {"a": {"Command": ["x"], "Memory": "1GiB", "MemoryRequest": "300MiB",
                                     "Cpus": 1, "CpuRequest": 0.25},
                               "b": {"Command": ["x"], "Memory": "2GiB"}},
                "Server": {"MemoryReserve": "100MiB"}},
}  # fmt: skip


def snapshot() -> Snapshot:
    """The sampler over stats a test hands it (the cgroups' side is tested against real cgroups elsewhere)."""
    d = parse_deployment(DOC)
    book = ledger(d, Capacity(3 * GIB, "the memory limit of coserve's own cgroup", 2.0, "host CPUs"))
    used = {"a": 200 * MIB, "b": 50 * MIB}
    limit = {"a": GIB, "b": 2 * GIB}

    def stats(key: ContainerKey) -> Stats:
        return Stats(used[key.hostname], None, limit[key.hostname], 0, 0, 1)

    members = deployment_members(d)
    sampler = Sampler(lambda: members, stats, lambda: StoreStats(0, 0, 0), 24 * GIB, d.storage.cache_dir, lambda: book)
    return sampler.sample(1.0)


def test_the_snapshot_holds_requests_limits_and_the_ledger_and_survives_json() -> None:
    snap = snapshot()
    a, b = snap.containers
    assert (a.memory_request_bytes, a.memory_limit_bytes, a.memory_bytes) == (300 * MIB, GIB, 200 * MIB)
    assert (a.cpu_request_cores, a.cpu_limit_cores, b.cpu_request_cores) == (0.25, 1.0, None)
    assert b.memory_request_bytes == 2 * GIB  # no MemoryRequest: the limit is reserved
    host = snap.host
    assert host is not None
    assert (host.reserved_bytes, host.free_bytes) == (2448 * MIB, 624 * MIB)
    assert (host.limits_bytes, host.overcommit_bytes) == (3 * GIB, 100 * MIB)
    assert Snapshot.from_json(snap.to_json()) == snap


def test_metrics_name_every_figure() -> None:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(SnapshotSource(snapshot())))

    def get(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"endpoint": "ep", "variant": "v", **labels})

    assert get("coserve_container_memory_request_bytes", container="a", generation="1") == 300 * MIB
    assert get("coserve_container_memory_limit_bytes", container="a", generation="1") == GIB
    assert get("coserve_container_memory_bytes", container="a", generation="1") == 200 * MIB
    assert get("coserve_container_cpu_request_cores", container="a", generation="1") == 0.25
    assert get("coserve_container_cpu_limit_cores", container="a", generation="1") == 1.0
    assert get("coserve_container_cpu_limit_cores", container="b", generation="1") is None, "absent, not a zero"
    assert get("coserve_host_memory_capacity_bytes") == 3 * GIB
    assert get("coserve_host_memory_reserved_bytes") == 2448 * MIB
    assert get("coserve_host_memory_requests_bytes") == 2348 * MIB
    assert get("coserve_host_memory_free_bytes") == 624 * MIB
    assert get("coserve_host_memory_limits_bytes") == 3 * GIB
    assert get("coserve_host_memory_overcommit_bytes") == 100 * MIB


def test_status_shows_request_and_the_hosts_reserved_versus_free() -> None:
    from dataclasses import asdict

    snap = snapshot()
    figures = {"invocations": 0, "errors_4xx": 0, "errors_5xx": 0,
               "latency": {"container": {"buckets": [[0.1, 0.0]]}}}  # fmt: skip
    doc = {"endpoint": "ep", "variant": "v", "mode": "Direct", "disk_percent": 1.0, "host": asdict(snap.host),
           "variant_figures": figures, "containers": [{**asdict(c), **figures} for c in snap.containers]}  # fmt: skip
    console = Console(width=250, record=True)
    console.print(render(doc))
    text = console.export_text()
    assert "memory reserved 2.4GiB of 3.0GiB, free 624.0MiB, limits overcommit by 100.0MiB" in text
    assert "REQUEST" in text and "300.0MiB" in text and "200.0MiB / 1.0GiB" in text
