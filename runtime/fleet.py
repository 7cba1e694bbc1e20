"""The fleet: the reconciler's generations as the supervisor's container sets, and the host's routing table.

A generation's containers are supervisor units keyed `<endpoint>/<serial>/<hostname>`; the routing table lists,
per endpoint, the generation the reconciler routed it to. A retired generation is drained before it is
stopped: in one process, until the router has no request in flight on its ports (bounded by DrainTimeout);
with gunicorn workers, whose counts this process cannot see, for DrainTimeout. Containers with an IdleTimeout
idle and wake as runtime.fleetidle says. Each unit carries its endpoint's own start and fetch bounds (the
Deployment's, from runtime.control.desired; None: the host's), so the supervisor needs no endpoints to apply them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.config import Deployment, ServerSettings
from runtime.control.reconcile import Generation, Progress
from runtime.fleetidle import IdleContainers
from runtime.metrics.members import Member
from runtime.routing import EndpointTable, HostTable
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.units import Unit

log = logging.getLogger("runtime.fleet")
SWITCH_S = 0.2  # after a switch, how long gunicorn workers may still read the old table (they re-read at 50 ms)


@dataclass
class _Held:
    deployment: Deployment  # the endpoint's variant, mode and containers
    keys: tuple[ContainerKey, ...]
    retire_at: float | None = None  # set when retired: the drain starts
    stopping: bool = False


class SupervisorFleet:
    def __init__(self, supervisor: Supervisor, server: ServerSettings, file_endpoint: str | None,
                 in_flight: Callable[[int], int | None] | None = None) -> None:  # fmt: skip
        self.supervisor = supervisor
        self.server = server
        self.file_endpoint = file_endpoint  # its first generation keeps a file's ports and log paths
        self.in_flight = in_flight  # requests under way on a port, in this process (None: not knowable)
        self.held: dict[Generation, _Held] = {}
        self.routed: dict[str, Generation] = {}
        self.version = 0
        self._reasons: dict[ContainerKey, str] = {}  # the last lifecycle message of each container
        self.idle = IdleContainers(supervisor, server.startup_timeout_s)

    def members(self) -> list[Member]:
        """Every supervised container, from its add to its forget, for the metrics (runtime.metrics.members)."""
        return [Member(key, spec, held.deployment.variant_name, held.deployment.mode)
                for held in self.held.values()
                for key, spec in zip(held.keys, held.deployment.containers, strict=True)]  # fmt: skip

    def on_event(self, event: Event) -> None:
        if event.key is not None:
            self._reasons[event.key] = event.message

    def launch(self, gen: Generation, deployment: Deployment, now: float) -> str | None:
        first = gen.endpoint == self.file_endpoint and not any(g.endpoint == gen.endpoint for g in self.held)
        units = tuple(
            Unit(ContainerKey(gen.endpoint, gen.serial, c.hostname), c, self._log(gen.endpoint, c.hostname),
                 c.index if first else None, deployment.startup_timeout_s, deployment.fetch_timeout_s)
            for c in deployment.containers
        )  # fmt: skip
        try:
            self.supervisor.add(units, now)
        except ValueError as exc:
            return str(exc)
        self.held[gen] = _Held(deployment, tuple(u.key for u in units))
        self.idle.track(units)
        return None

    def _log(self, endpoint: str, hostname: str) -> Path:
        return self.server.container_log(hostname, None if endpoint == self.file_endpoint else endpoint)

    def progress(self, gen: Generation) -> Progress:
        held = self.held[gen]
        states = self.supervisor.states(self.idle.present(held.keys))
        fatal = [k for k, s in states.items() if s is State.FATAL]
        reason = "; ".join(_named(k.hostname, self._reasons.get(k, "gave up")) for k in fatal)
        # An idle container counts as running: it served, and a request wakes it.
        running = sum(1 for s in states.values() if s is State.RUNNING) + len(held.keys) - len(states)
        return Progress(len(held.keys), running, len(fatal), reason)

    def route(self, endpoint: str, gen: Generation | None) -> None:
        if gen is None:
            self.routed.pop(endpoint, None)
        else:
            self.routed[endpoint] = gen
        self.version += 1

    def retire(self, gen: Generation, now: float) -> None:
        held = self.held.get(gen)
        if held is not None and held.retire_at is None:
            held.retire_at = now
            self.idle.untrack(held.keys)  # what is idle stays down; what is stopping for idleness is drained as is

    def gone(self, gen: Generation) -> bool:
        return gen not in self.held

    def tick(self, now: float) -> None:
        """Idle and wake what may; drain, stop and forget what was retired."""
        self.idle.tick(now, {k for g in self.routed.values() for k in self.held[g].keys}, self.in_flight)
        for gen, held in list(self.held.items()):
            if held.retire_at is None:
                continue
            keys = tuple(k for k in held.keys if k in self.supervisor.states())  # an idle one is forgotten already
            if not held.stopping and self._drained(held, now):
                held.stopping = True
                self.supervisor.stop(keys, now)
            if held.stopping and self.supervisor.stopped(keys):
                self.supervisor.forget(keys)
                for key in held.keys:
                    self._reasons.pop(key, None)
                del self.held[gen]
                log.info("endpoint %s: generation %d stopped", gen.endpoint, gen.serial)

    def _drained(self, held: _Held, now: float) -> bool:
        assert held.retire_at is not None
        waited = now - held.retire_at
        if waited >= self.server.drain_timeout_s:
            return True
        if self.in_flight is None or waited < SWITCH_S:
            return False
        keys = tuple(k for k in held.keys if k in self.supervisor.states())
        counts = [self.in_flight(r.port) for r in self.supervisor.routes(keys)]
        return all(n == 0 for n in counts)  # None (workers: counts this process cannot see) waits for DrainTimeout

    def table(self) -> HostTable:
        endpoints = []
        for name, gen in self.routed.items():
            d = self.held[gen].deployment
            endpoints.append(EndpointTable(name, d.variant_name, d.mode, self.idle.routes(self.held[gen].keys)))
        return HostTable(tuple(endpoints), self.supervisor.version + self.version, self.file_endpoint)


def _named(hostname: str, message: str) -> str:
    """A FailureReason that names the container once: a fetch's message names it already."""
    name = f"container {hostname}"
    return message.removeprefix("gave up: ") if name in message else f"{name}: {message}"
