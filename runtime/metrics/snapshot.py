"""What the supervisor process knows and the router processes show: one snapshot, published each second.

Like the routing table, through runtime.published: in one process the router holds the object; with gunicorn
workers each worker follows the JSON file the supervisor replaces atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from runtime.published import Published


@dataclass(frozen=True)
class ContainerSample:
    hostname: str
    state: str  # a supervisor State's value
    restarts: int  # BACKOFF -> STARTING transitions since coserve started
    oom_kills: int  # the cgroup's own count of OOM kills
    ready_seconds: float | None  # spawn to the first /ping 200, for the latest start
    cpu_seconds: float  # cumulative CPU time of the cgroup
    cpu_percent: float  # CPUUtilization over the last sample: 0-100 x cores, as SageMaker reports it
    memory_bytes: int  # the cgroup's usage (v1: memory.usage_in_bytes, v2: memory.current)
    memory_limit_bytes: int  # the cgroup's limit, or the host's memory where it has none
    memory_percent: float  # MemoryUtilization: memory_bytes of memory_limit_bytes
    pids: int
    # CPU throttling from cpu.stat: only a quota (CpuMode: quota) throttles; it shows as p99 latency.
    cpu_throttled_periods: int = 0  # CFS periods in which the container hit its quota
    cpu_throttled_seconds: float = 0.0  # time its tasks waited for the next period
    memory_request_bytes: int | None = None  # MemoryRequest: what admission reserved for it
    cpu_request_cores: float | None = None  # CpuRequest
    cpu_limit_cores: float | None = None  # Cpus: its CPU quota; None without one
    # Whose container it is (runtime.metrics.members.Member): two generations of one endpoint may run the same
    # hostname side by side during an update, told apart by `generation`.
    endpoint: str = field(kw_only=True)
    variant: str = field(kw_only=True)
    mode: str = field(kw_only=True)  # the endpoint's: Direct | Serial
    generation: int = field(kw_only=True)


@dataclass(frozen=True)
class HostMemory:
    """What admission set aside against what there is (runtime.admission.Ledger), in bytes."""

    capacity_bytes: int  # host memory, or the memory limit of coserve's own cgroup
    capacity_source: str  # which of the two
    reserve_bytes: int  # kept back for coserve itself (Coserve.Server.MemoryReserve)
    reserved_bytes: int  # the containers' requests plus that reserve
    free_bytes: int  # capacity less reserved: what a further request could still get
    limits_bytes: int  # the containers' memory limits added up
    overcommit_bytes: int  # how far limits plus reserve pass the capacity (0: every limit can be met at once)


@dataclass(frozen=True)
class Snapshot:
    """The host's containers, of every endpoint. `endpoint`, `variant` and `mode` are the first endpoint's (the
    deployment file's on a host that has one; "" on a host with none): each sample names its own."""

    endpoint: str
    variant: str
    mode: str
    at: float  # wall-clock time of the sample (seconds since the epoch)
    containers: tuple[ContainerSample, ...]
    disk_percent: float  # DiskUtilization of the shared volume (Coserve.Storage.CacheDir)
    cache_hits: int  # artifact fetches answered from the cache
    cache_misses: int
    bytes_fetched: int  # artifact bytes downloaded
    host: HostMemory | None = None  # admission's figures; None where coserve runs without its isolation
    cache_bytes: int = 0  # the artifact cache's size on the shared volume, as last measured
    cache_evictions: int = 0  # artifacts evicted to keep the cache within its budget

    def endpoints(self) -> list[tuple[str, str, str]]:
        """(endpoint, variant, mode) of each endpoint with a container here, in the order first seen."""
        seen: dict[str, tuple[str, str, str]] = {}
        for c in self.containers:
            seen.setdefault(c.endpoint, (c.endpoint, c.variant, c.mode))
        return list(seen.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        doc = json.loads(text)
        doc["containers"] = tuple(ContainerSample(**c) for c in doc["containers"])
        doc["host"] = HostMemory(**doc["host"]) if doc.get("host") else None
        return cls(**doc)


# Where /metrics gets the supervisor's figures: its own object in one process, else stats.json in the run
# directory (runtime.rundir), re-read by each worker when it changed (runtime.published). `latest()` is None
# until the supervisor's first sample.
SnapshotSource = Published[Snapshot]
