"""The supervisor process's figures: lifecycle from its events, CPU and memory from each cgroup.

Runs on the supervise tick (at most once a second), never on a request. What it samples is what is supervised
at that moment (`members`), so containers added or forgotten at run time follow; each container's book is
keyed by its ContainerKey, made on its first event and dropped once it is no longer a member.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.admission import Ledger
from runtime.cgroups import Stats
from runtime.metrics.members import Member
from runtime.metrics.snapshot import ContainerSample, HostMemory, Snapshot
from runtime.storage.store import StoreStats
from runtime.supervisor import Event, State
from runtime.supervisor.keys import ContainerKey

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
    def __init__(self, members: Callable[[], Sequence[Member]], stats: Callable[[ContainerKey], Stats | None],
                 store_stats: Callable[[], StoreStats], host_memory: int, cache_dir: Path,
                 ledger: Callable[[], Ledger | None] = lambda: None) -> None:  # fmt: skip
        self.members = members
        self.stats = stats
        self.store_stats = store_stats
        self.host_memory = host_memory
        self.cache_dir = cache_dir
        self.ledger = ledger  # read on every sample: admission's ledger changes with every add and forget
        self.books: dict[ContainerKey, _Book] = {}

    def on_event(self, event: Event) -> None:
        if event.key is None:  # every supervised container's events carry its key; a keyless one names nothing here
            return
        book = self.books.setdefault(event.key, _Book())
        book.state = event.new.value
        if event.new is State.STARTING:
            book.starting_at = event.at
            book.restarts += event.old is State.BACKOFF
        elif event.new is State.RUNNING:
            book.ready_seconds = event.at - book.starting_at

    def sample(self, now: float) -> Snapshot:
        """`now` is monotonic, the clock CPU time is divided by."""
        members = tuple(self.members())
        self._drop_gone(members)
        store, ledger = self.store_stats(), self.ledger()
        first = members[0] if members else None
        return Snapshot(
            endpoint=first.key.endpoint if first else "", variant=first.variant if first else "",
            mode=first.mode if first else "", at=time.time(),
            containers=tuple(self._container(m, now) for m in members),
            disk_percent=disk_percent(self.cache_dir),
            cache_hits=store.hits, cache_misses=store.misses, bytes_fetched=store.bytes_fetched,
            cache_bytes=store.size_bytes, cache_evictions=store.evictions,
            host=host_memory_of(ledger) if ledger is not None else None,
        )  # fmt: skip

    def _drop_gone(self, members: Sequence[Member]) -> None:
        """Forget the books of containers no longer supervised. Only STOPPED ones: the supervisor forgets only
        those, and a container just added may have told its first events before its member is listed."""
        keys = {m.key for m in members}
        for key in [k for k, b in self.books.items() if k not in keys and b.state == State.STOPPED.value]:
            del self.books[key]

    def _container(self, m: Member, now: float) -> ContainerSample:
        asked = m.spec.limits
        book = self.books.setdefault(m.key, _Book())
        try:
            stats = self.stats(m.key)
        except OSError:  # the cgroup went away under us (shutdown, or a container forgotten): report it empty
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
            hostname=m.key.hostname, state=book.state, restarts=book.restarts,
            oom_kills=stats.oom_kills if stats else 0, ready_seconds=book.ready_seconds,
            cpu_seconds=cpu_ns / 1e9, cpu_percent=book.cpu_percent,
            memory_bytes=memory, memory_limit_bytes=limit, memory_percent=round(100.0 * memory / limit, 2),
            pids=stats.pids if stats else 0, memory_request_bytes=asked.memory_request_bytes,
            cpu_request_cores=asked.cpu_request, cpu_limit_cores=asked.cpus,
            cpu_throttled_periods=stats.cpu_throttled_periods if stats else 0,
            cpu_throttled_seconds=stats.cpu_throttled_ns / 1e9 if stats else 0.0,
            endpoint=m.key.endpoint, variant=m.variant, mode=m.mode, generation=m.key.generation,
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
