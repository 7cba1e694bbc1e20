"""The supervisor side of inference components: each tick, make the copies that run match the store.

A copy is a supervisor unit keyed `ContainerKey(endpoint, spec_version, "<component>-<n>")`: its own cgroup,
port block and process group, limited as runtime.components.spec says. Per component and tick: a Deleting one
loses every copy and then its row; a new Specification starts a full set of new copies beside the serving ones
and switches when all run (or rolls back when one gives up); otherwise copies are added or retired to match
CopyCount (0 while scaled to zero by idleness). A wake that admission refuses first retires the least recently
used idle-eligible copies of other components; with none to retire, the shortage is published for the router.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from runtime.admission import Ledger
from runtime.components import capacity
from runtime.components.signals import Signals
from runtime.components.spec import SpecError, copy_spec, timeouts
from runtime.components.stats import WakeStats
from runtime.config import ServerSettings
from runtime.control.icstore import Component
from runtime.control.outage import Outage
from runtime.control.state import StateUnavailable
from runtime.control.store import Store
from runtime.copies.copies import Copies, Retiring
from runtime.copies.routes import decorate
from runtime.copies.rows import ComponentStore
from runtime.metrics.members import Member
from runtime.routing import HostTable
from runtime.supervisor import State, Supervisor
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.units import Unit

log = logging.getLogger("runtime.components")
SWITCH_S = 0.2  # as runtime.fleet: gunicorn workers may read the old table this long


class ComponentController:
    def __init__(self, store: Store, supervisor: Supervisor, server: ServerSettings,
                 ledger: Callable[[], Ledger | None] = lambda: None,
                 in_flight: Callable[[int], int | None] | None = None,
                 wall: Callable[[], float] = time.time, outage: Outage | None = None) -> None:  # fmt: skip
        self.rows = ComponentStore(store)
        # The reconciler's, in one process: one outage of the one store is found, logged and probed once.
        self.outage = outage or Outage(self.rows.components)
        self.state_dir = store.state_dir
        self.supervisor = supervisor
        self.server = server
        self.ledger = ledger
        self.in_flight = in_flight
        self.wall = wall
        self.signals = Signals(store.state_dir / "components")
        self.held: dict[str, Copies] = {}  # lower-cased name ->
        self.retiring: list[Retiring] = []
        self.stats = WakeStats()
        self.last: list[Component] = []
        self._published: capacity.Published | None = None
        self._stats_written: WakeStats | None = None
        self._members: dict[ContainerKey, Member] = {}  # every copy from its add to its forget

    def members(self) -> list[Member]:
        """Every copy the supervisor holds, for the metrics and `coserve status` (runtime.metrics.members)."""
        return list(self._members.values())

    def start(self) -> None:
        self.signals.prepare()

    def tick(self, now: float) -> None:
        """While the state store cannot be reached, what runs runs on, as the endpoints' reconciler does: the
        read is made in the store's thread with a deadline (runtime.control.outage), and retried after it."""
        if self.outage.usable(now):
            try:
                self.last = self.outage.read(self.rows.components)
                for c in self.last:
                    self._one_checked(c, now)
            except StateUnavailable as exc:
                self.outage.failed(exc, now)
            else:
                self.outage.succeeded(now)
        self._drain(now)
        self._publish()
        if self.stats != self._stats_written:
            self.stats.write(self.signals.folder)
            self._stats_written = replace(self.stats)

    def table(self, base: HostTable) -> HostTable:
        """`base` (the fleet's) with each component-hosting endpoint's components and their copies' routes."""
        return decorate(base, self.last, self.held, self.supervisor, self.server.startup_timeout_s)

    # One component.
    def _one_checked(self, c: Component, now: float) -> None:
        try:
            self._one(c, now)
        except SpecError as exc:  # stored before this coserve's checks changed: it cannot run
            self.rows.settle(c, "Failed", str(exc))

    def _one(self, c: Component, now: float) -> None:
        name = c.name.lower()
        h = self.held.setdefault(name, Copies(c.spec_version, self.wall()))
        if h.generation != c.generation:  # an API call: what it asks for runs now, idle or not
            h.generation, h.idle = c.generation, False
        if c.status in ("Deleting", "Failed"):
            self._retire(name, h.live + h.next, now)
            h.live, h.next = [], []
            if c.status == "Deleting" and not any(r.component == name for r in self.retiring):
                self.rows.forget(c)
                self.signals.forget(name)
                del self.held[name]
            return
        own = {t["Key"]: t["Value"] for t in c.tags}
        idle_s, _ = timeouts(own, self.server.startup_timeout_s)
        self._activity(c, h, idle_s, now)
        want = 0 if h.idle else c.desired
        if c.spec_version != h.version:
            self._roll(c, h, want, now)
        else:
            self._scale(c, h, want, now)
            self._settle(c, h)
        running = self._running(h.live)
        if running != c.current:
            self.rows.set_current(c.name, running)
        if h.wake_since is not None and running:
            self.stats.woke(now - h.wake_since)
            h.wake_since, h.short = None, None

    def _activity(self, c: Component, h: Copies, idle_s: float | None, now: float) -> None:
        seen = self.signals.last_seen(c.name)
        if seen is not None:
            h.last_used = max(h.last_used, seen)
        if self.signals.take_wake(c.name) and h.idle:
            h.idle, h.wake_since, h.last_used, h.short = False, now, self.wall(), None
            self.stats.wakes += 1
            log.info("inference component %s: waking", c.name)
        quiet = idle_s is not None and self.wall() - h.last_used > idle_s
        if quiet and not h.idle and h.live and not h.next and self._unused(h.live):
            h.idle = True
            log.info("inference component %s: idle for %gs, scaling to zero", c.name, idle_s)

    def _scale(self, c: Component, h: Copies, want: int, now: float) -> None:
        while len(h.live) > want:
            self._retire(c.name.lower(), [h.live.pop()], now)
        while len(h.live) < want:
            key = h.key(c.endpoint, c.name, c.spec_version, self._taken(h))
            problem = self._add(c, key, now)
            if problem is None:
                h.live.append(key)
                continue
            if h.wake_since is not None:
                if self.retiring or self._evict(c.name.lower(), now):
                    return  # retry next tick: copies leaving give their memory back once stopped
                h.idle, h.wake_since = True, None  # the wake fails; the next request tries again
                log.warning("inference component %s cannot wake: %s", c.name, problem)
            h.short = problem
            if c.status == "Creating":
                self.rows.settle(c, "Failed", problem)
            elif c.status == "Updating":
                self.rows.settle(c, "InService", problem)
            return

    def _roll(self, c: Component, h: Copies, want: int, now: float) -> None:
        """Blue/green: a full set of the new Specification's copies, then the switch (or the rollback)."""
        name = c.name.lower()
        if h.next_version != c.spec_version:
            self._retire(name, h.next, now)
            h.next, h.next_version = [], c.spec_version
            for _ in range(want):
                key = h.key(c.endpoint, c.name, c.spec_version, self._taken(h))
                problem = self._add(c, key, now)
                if problem is not None:
                    self._retire(name, h.next, now)
                    h.next, h.next_version = [], 0
                    self.rows.roll_back(c, problem)
                    return
                h.next.append(key)
        states = self.supervisor.states(h.next)
        if any(s is State.FATAL for s in states.values()):
            self._retire(name, h.next, now)
            h.next, h.next_version = [], 0
            self.rows.roll_back(c, f"a new copy gave up: see the logs of {', '.join(k.hostname for k in states)}")
        elif all(s is State.RUNNING for s in states.values()):
            self._retire(name, h.live, now)
            h.live, h.next, h.version, h.next_version = h.next, [], c.spec_version, 0
            self.rows.settle(c, "InService")

    def _settle(self, c: Component, h: Copies) -> None:
        if c.status not in ("Creating", "Updating"):
            return
        states = self.supervisor.states(h.live)
        if any(s is State.FATAL for s in states.values()):
            given_up = ", ".join(k.hostname for k, s in states.items() if s is State.FATAL)
            self.rows.settle(c, "Failed" if c.status == "Creating" else "InService",
                             f"copies gave up: {given_up} (see their logs)")  # fmt: skip
        elif len(states) == (0 if h.idle else c.desired) and all(s is State.RUNNING for s in states.values()):
            self.rows.settle(c, "InService")

    def _taken(self, h: Copies) -> set[ContainerKey]:
        return set(self.supervisor.states()) | set(h.live) | set(h.next)

    def _add(self, c: Component, key: ContainerKey, now: float) -> str | None:
        own = {t["Key"]: t["Value"] for t in c.tags}
        spec = copy_spec(c.spec, key.hostname, own)
        log_path = self.server.log_dir / c.endpoint / f"{key.hostname}.log"
        try:
            self.supervisor.add((Unit(key, spec, log_path),), now)
        except ValueError as exc:
            return str(exc)
        self._members[key] = Member(key, spec, c.variant, "Direct")  # one container per copy: nothing chained
        return None

    def _evict(self, waking: str, now: float) -> bool:
        """Scale to zero the least recently used other component that may idle and has no request in flight."""
        found = [(h.last_used, name) for name, h in self.held.items()
                 if name != waking and h.live and not h.idle and not h.next and self._idles(name)
                 and self._unused(h.live)]  # fmt: skip
        if not found:
            return False
        _, name = min(found)
        self.held[name].idle = True
        self._retire(name, self.held[name].live, now)
        self.held[name].live = []
        self.stats.evictions += 1
        log.info("inference component %s: scaled to zero to make room for %s", name, waking)
        return True

    def _idles(self, name: str) -> bool:
        row = next((c for c in self.last if c.name.lower() == name), None)
        return row is not None and any(t.get("Key") == "coserve:IdleTimeout" for t in row.tags)

    # Copies leaving.
    def _retire(self, name: str, keys: list[ContainerKey], now: float) -> None:
        if keys:
            self.retiring.append(Retiring(name, tuple(keys), now))

    def _drain(self, now: float) -> None:
        for r in list(self.retiring):
            waited = now - r.since
            if not r.stopping and (
                waited >= self.server.drain_timeout_s or (waited >= SWITCH_S and self._unused(r.keys))
            ):
                r.stopping = True
                self.supervisor.stop(r.keys, now)
            if r.stopping and self.supervisor.stopped(r.keys):
                self.supervisor.forget(r.keys)
                for key in r.keys:
                    self._members.pop(key, None)
                self.retiring.remove(r)

    def _unused(self, keys: list[ContainerKey] | tuple[ContainerKey, ...]) -> bool:
        if self.in_flight is None:
            return True  # workers: their counts are not knowable here; idleness itself says no request came
        return all(self.in_flight(r.port) in (0, None) for r in self.supervisor.routes(keys))

    def _running(self, keys: list[ContainerKey]) -> int:
        return sum(1 for s in self.supervisor.states(keys).values() if s is State.RUNNING)

    def _publish(self) -> None:
        ledger = self.ledger()
        if ledger is None:
            return
        owners = {k.name: name for name, h in self.held.items() for k in (*h.live, *h.next)}
        held: dict[str, int] = {}
        held_cpus: dict[str, float] = {}
        for n in ledger.needs:
            owner = owners.get(n.key)
            if owner is not None:
                held[owner] = held.get(owner, 0) + (n.memory_request_bytes or 0)
                held_cpus[owner] = held_cpus.get(owner, 0.0) + (n.cpu_request or 0.0)
        idle = sorted(name for name, h in self.held.items() if h.idle)
        p = capacity.Published(
            ledger.free_bytes, ledger.capacity.memory_bytes, ledger.capacity.memory_source, held, idle,
            ledger.capacity.cpus - ledger.cpu_requested, ledger.capacity.cpus, held_cpus,
        )  # fmt: skip
        if p != self._published:
            capacity.write(self.state_dir, p)
            self._published = p
