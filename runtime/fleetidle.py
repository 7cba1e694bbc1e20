"""Deployment-file containers that scale to zero when idle (`Coserve.Containers.<host>.IdleTimeout`) and wake on
request, by the inference components' mechanism (runtime.components.signals, runtime.copies.controller).

The router touches `<endpoint>.<hostname>.seen` in the components' signal folder on each request (a component's
name has no dot, so the two never meet). A tracked container unused for IdleTimeout (nothing seen; in one process,
nothing in flight either) is stopped and then forgotten: its process group and cgroup go, its ports and memory
request are released, as a component's copies' are. Until a request wakes it, its route has state IDLE and its
WakeTimeout; the router's `.wake` file makes it be added again under the same key (the file endpoint's first
generation on the same ports) and counted in the components' WakeStats. A wake that admission refuses leaves it
IDLE and is logged; the waiting request ends at WakeTimeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from runtime.components.signals import Signals, container_signal
from runtime.components.stats import WakeStats
from runtime.routing import IDLE, ContainerRoute
from runtime.supervisor import State, Supervisor
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.units import Unit

log = logging.getLogger("runtime.fleet")


@dataclass
class _Tracked:
    unit: Unit  # as launched: added again, unchanged, by a wake
    idle_s: float
    wake_s: float
    last_used: float  # wall clock
    phase: str = "up"  # up | stopping | idle (forgotten by the supervisor)
    port: int = 0  # its last port, shown while idle
    wake_since: float | None = None


class IdleContainers:
    def __init__(self, supervisor: Supervisor, startup_s: float, wall: Callable[[], float] = time.time) -> None:
        self.supervisor = supervisor
        self.startup_s = startup_s
        self.wall = wall
        self.signals: Signals | None = None  # None: nothing can wake a container, so none is let idle
        self.stats = WakeStats()
        self.tracked: dict[ContainerKey, _Tracked] = {}

    def wake_by(self, signals: Signals, stats: WakeStats) -> None:
        self.signals, self.stats = signals, stats

    def track(self, units: Iterable[Unit]) -> None:
        if self.signals is None:
            return
        for u in units:
            if u.spec.idle_timeout_s is not None:
                wake_s = u.spec.wake_timeout_s or u.startup_timeout_s or self.startup_s  # as long as a start may take
                self.tracked[u.key] = _Tracked(u, u.spec.idle_timeout_s, wake_s, self.wall())

    def untrack(self, keys: Iterable[ContainerKey]) -> None:
        for key in keys:
            self.tracked.pop(key, None)

    def present(self, keys: Iterable[ContainerKey]) -> tuple[ContainerKey, ...]:
        """Those of `keys` the supervisor holds (an idle container is not held)."""
        return tuple(k for k in keys if k not in self.tracked or self.tracked[k].phase != "idle")

    def routes(self, keys: Iterable[ContainerKey]) -> tuple[ContainerRoute, ...]:
        out = []
        for key in keys:
            t = self.tracked.get(key)
            if t is not None and t.phase != "up":
                out.append(ContainerRoute(key.hostname, t.port, IDLE, str(t.unit.log_path), t.wake_s))
                continue
            (r,) = self.supervisor.routes((key,))
            out.append(ContainerRoute(r.hostname, r.port, r.state.value, str(r.log_path),
                                      t.wake_s if t is not None else None))  # fmt: skip
        return tuple(out)

    def tick(self, now: float, routed: set[ContainerKey], in_flight: Callable[[int], int | None] | None) -> None:
        if self.signals is None:
            return
        for key, t in self.tracked.items():
            name = container_signal(key.endpoint, key.hostname)
            if t.phase == "up":
                self._up(key, t, name, now, key in routed, in_flight)
            elif t.phase == "stopping" and self.supervisor.stopped((key,)):
                self.supervisor.forget((key,))
                t.phase = "idle"
            elif t.phase == "idle" and self.signals.take_wake(name):
                self._wake(key, t, now)

    def _up(self, key: ContainerKey, t: _Tracked, name: str, now: float, routed: bool,
            in_flight: Callable[[int], int | None] | None) -> None:  # fmt: skip
        assert self.signals is not None
        self.signals.take_wake(name)  # a request that read an older table: it is awake already
        seen = self.signals.last_seen(name)
        if seen is not None:
            t.last_used = max(t.last_used, seen)
        (r,) = self.supervisor.routes((key,))
        if t.wake_since is not None and r.state is State.RUNNING:
            self.stats.woke(now - t.wake_since)
            t.wake_since = None
        busy = in_flight is not None and in_flight(r.port) not in (0, None)
        if routed and r.state is State.RUNNING and not busy and self.wall() - t.last_used > t.idle_s:
            t.phase, t.port = "stopping", r.port
            self.supervisor.stop((key,), now)
            log.info("container %s of endpoint %s: idle for %gs, stopping it", key.hostname, key.endpoint, t.idle_s)

    def _wake(self, key: ContainerKey, t: _Tracked, now: float) -> None:
        try:
            self.supervisor.add((t.unit,), now)
        except ValueError as exc:
            log.warning("container %s of endpoint %s cannot wake: %s", key.hostname, key.endpoint, exc)
            return
        t.phase, t.wake_since, t.last_used = "up", now, self.wall()
        self.stats.wakes += 1
        log.info("container %s of endpoint %s: waking", key.hostname, key.endpoint)
