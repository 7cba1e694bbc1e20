"""The supervisor process's figures: lifecycle from its events, CPU and memory from each cgroup.

Runs on the supervise tick (at most once a second), never on a request.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.admission import Ledger
from runtime.cgroups import Stats
from runtime.config import ContainerSpec, Deployment
from runtime.metrics.snapshot import ContainerSample, HostMemory, Snapshot
from runtime.storage.store import StoreStats
from runtime.supervisor import Event, State

MIN_WINDOW_S = 0.5


@dataclass
class _Book:
    """One container's lifecycle as its events told it."""

    state: str = State.STOPPED.value
    restarts: int = 0
    starting_at: float = 0.0
    ready_seconds: float | None = None
    cpu_ns: int = 0  # the last sample, for CPUUtilization over the interval
    sampled_at: float = 0.0
    cpu_percent: float = 0.0


class Sampler:
    def __init__(self, d: Deployment, stats: Callable[[str], Stats | None],
                 store_stats: Callable[[], StoreStats], host_memory: int,
                 ledger: Ledger | None = None) -> None:  # fmt: skip
        self.d = d
        self.stats = stats
        self.store_stats = store_stats
        self.host_memory = host_memory
        self.host = host_memory_of(ledger) if ledger is not None else None  # fixed once admitted
        self.books = {c.hostname: _Book() for c in d.containers}

    def on_event(self, event: Event) -> None:
        mine = event.key is None or event.key.endpoint == self.d.endpoint_name
        book = self.books.get(event.hostname) if mine else None
        if book is None:
            return  # another endpoint's container: not in this file's figures
        book.state = event.new.value
        if event.new is State.STARTING:
            book.starting_at = event.at
            book.restarts += event.old is State.BACKOFF
        elif event.new is State.RUNNING:
            book.ready_seconds = event.at - book.starting_at

    def sample(self, now: float) -> Snapshot:
        """`now` is monotonic, the clock CPU time is divided by."""
        store = self.store_stats()
        return Snapshot(
            endpoint=self.d.endpoint_name, variant=self.d.variant_name, mode=self.d.mode, at=time.time(),
            containers=tuple(self._container(c, now) for c in self.d.containers),
            disk_percent=disk_percent(self.d.storage.cache_dir),
            cache_hits=store.hits, cache_misses=store.misses, bytes_fetched=store.bytes_fetched,
            cache_bytes=store.size_bytes, cache_evictions=store.evictions,
            host=self.host,
        )  # fmt: skip

    def _container(self, spec: ContainerSpec, now: float) -> ContainerSample:
        hostname, asked = spec.hostname, spec.limits
        book = self.books[hostname]
        try:
            stats = self.stats(hostname)
        except OSError:  # the cgroup went away under us (shutdown): report it empty
            stats = None
        cpu_ns = stats.cpu_usage_ns if stats else 0
        elapsed = now - book.sampled_at
        if elapsed >= MIN_WINDOW_S:  # a state change resamples early; CPU over a few ms would be noise
            busy = max(cpu_ns - book.cpu_ns, 0) / 1e9
            book.cpu_percent = round(100.0 * busy / elapsed, 2) if book.sampled_at else 0.0
            book.cpu_ns, book.sampled_at = cpu_ns, now
        memory = stats.memory_bytes if stats else 0
        limit = (stats.memory_limit_bytes if stats else None) or self.host_memory
        return ContainerSample(
            hostname=hostname, state=book.state, restarts=book.restarts, oom_kills=stats.oom_kills if stats else 0,
            ready_seconds=book.ready_seconds, cpu_seconds=cpu_ns / 1e9, cpu_percent=book.cpu_percent,
            memory_bytes=memory, memory_limit_bytes=limit, memory_percent=round(100.0 * memory / limit, 2),
            pids=stats.pids if stats else 0, memory_request_bytes=asked.memory_request_bytes,
            cpu_request_cores=asked.cpu_request, cpu_limit_cores=asked.cpus,
            cpu_throttled_periods=stats.cpu_throttled_periods if stats else 0,
            cpu_throttled_seconds=stats.cpu_throttled_ns / 1e9 if stats else 0.0,
        )  # fmt: skip


def disk_percent(folder: Path) -> float:
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return 0.0
    return round(100.0 * usage.used / usage.total, 2) if usage.total else 0.0


def host_memory_of(book: Ledger) -> HostMemory:
    return HostMemory(
        capacity_bytes=book.capacity.memory_bytes, capacity_source=book.capacity.memory_source,
        reserve_bytes=book.reserve_bytes, reserved_bytes=book.reserved_bytes, free_bytes=book.free_bytes,
        limits_bytes=book.limits_bytes, overcommit_bytes=book.overcommit_bytes,
    )  # fmt: skip
