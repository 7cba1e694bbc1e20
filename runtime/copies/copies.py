"""One component's copies on the supervisor side: which keys serve, which are starting beside them, and when
it was last used. Pure bookkeeping; runtime.components.controller acts on it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from runtime.supervisor.keys import ContainerKey


@dataclass
class Copies:
    version: int  # the Specification version the serving copies run
    last_used: float  # wall clock: the last request, or the last start, whichever is later
    live: list[ContainerKey] = field(default_factory=list)  # routed
    next: list[ContainerKey] = field(default_factory=list)  # a new Specification's copies, starting (blue/green)
    next_version: int = 0
    idle: bool = False  # scaled to zero by coserve:IdleTimeout; a request wakes it
    wake_since: float | None = None  # monotonic: when the pending wake was asked for
    short: str | None = None  # why the pending wake cannot start a copy
    generation: int = 0  # the store's generation last seen

    def key(self, endpoint: str, name: str, version: int, taken: Collection[ContainerKey]) -> ContainerKey:
        """The lowest-numbered copy key not in use (a stopping copy keeps its key until forgotten): hostnames,
        logs and metrics labels stay as few as the copies, however often the component sleeps and wakes."""
        n = 1
        while (key := ContainerKey(endpoint, version, f"{name.lower()}-{n}")) in taken:
            n += 1
        return key


@dataclass
class Retiring:
    """Copies leaving: drained (no request in flight, or DrainTimeout), then stopped, then forgotten."""

    component: str
    keys: tuple[ContainerKey, ...]
    since: float
    stopping: bool = False
