"""The reconciler: moves each endpoint from what the store asks (Creating, Updating, Deleting) to what runs.

It knows endpoints and generations, not processes: a generation is one start of an endpoint's containers
(its first config, or the new config of an UpdateEndpoint), and the `Fleet` seam starts, routes and retires
generations. Blue/green is this module's order of steps: the new generation starts beside the live one, the
routing switches to it once every container in it is ready, and only then is the old one retired (drained,
stopped). If the new one fails, the routing never moved: the endpoint stays on the old one (SageMaker's
rollback) with the reason. Tick-driven with `now` passed in, like the supervisor, so a fake fleet and a fake
clock test every path.

When the state store cannot be reached (`StateUnavailable`), a tick changes nothing: what runs keeps running
and routed, and the store is used again once it answers (`runtime.control.outage`). Each tick writes an
outcome to the store before acting on it in memory, so a write that fails leaves both as they were and the
next tick with a store does the step again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from runtime.config import Deployment
from runtime.control.desired import to_deployment
from runtime.control.errors import ValidationException
from runtime.control.outage import Outage
from runtime.control.records import Snapshot, Work
from runtime.control.state import StateStore, StateUnavailable

log = logging.getLogger("runtime.control")


@dataclass(frozen=True)
class Generation:
    """One start of an endpoint's containers; `serial` counts the endpoint's starts from 1 in this process."""

    endpoint: str
    serial: int


@dataclass(frozen=True)
class Progress:
    """Where a generation's containers are: `total` of them, `running` ready, `fatal` given up on (for good)."""

    total: int
    running: int
    fatal: int
    reason: str = ""  # the fatal ones: which container and why

    def ready(self, tolerant: bool) -> bool:
        """Strict (an API create or update): every container runs. Tolerant (a deployment file's endpoint at
        start, or one brought back after a restart): every container has settled, running or given up."""
        settled = self.running + self.fatal == self.total
        return settled and (tolerant or self.fatal == 0)

    def failed(self, tolerant: bool) -> bool:
        """A tolerant generation never fails: it stays routed, showing what gave up, as a file's always did."""
        return self.fatal > 0 and not tolerant


class Fleet(Protocol):
    def launch(self, gen: Generation, deployment: Deployment, now: float) -> str | None:
        """Start every container of `deployment` as generation `gen`; a reason when it cannot (admission,
        ports), having started nothing."""
        ...

    def progress(self, gen: Generation) -> Progress: ...

    def route(self, endpoint: str, gen: Generation | None) -> None:
        """Point the endpoint's routing at `gen` in one step (None: the endpoint is no longer served)."""
        ...

    def retire(self, gen: Generation, now: float) -> None:
        """Drain, then stop and forget `gen`'s containers."""
        ...

    def gone(self, gen: Generation) -> bool:
        """Nothing of `gen` runs or is held any more (processes, cgroups, ports, reservations)."""
        ...


@dataclass
class _Launch:
    gen: Generation
    work_generation: int  # the store's generation this launch answers; a newer API change supersedes it
    tolerant: bool = False  # routed at once, and settled when some of its containers gave up (see Progress)


class Reconciler:
    def __init__(self, store: StateStore, fleet: Fleet) -> None:
        self.store = store
        self.fleet = fleet
        self.live: dict[str, Generation] = {}  # what each endpoint's routing points at
        self.launching: dict[str, _Launch] = {}  # a generation starting for a create or an update
        self.restoring: dict[str, Generation] = {}  # after a restart: the running config, starting again
        self.retiring: list[Generation] = []
        self._serials: dict[str, int] = {}
        self._now = 0.0
        self.outage = Outage(store.pending)

    def restore(self, now: float, eager: Iterable[str] = ()) -> list[str]:
        """At start: bring back every endpoint that ran before (its `running` snapshot), routed at once so its
        containers' states show while they start, and start the endpoints named in `eager` that are still
        Creating (a deployment file's, just applied) the same way. Returns the names that cannot start."""
        self._now = now
        refused, eager = [], set(eager)
        for e in self.store.endpoints():
            if e.status == "Deleting":
                continue
            snapshot = e.running or (e.target if e.status == "Creating" and e.name in eager else None)
            if snapshot is None:
                continue
            gen, reason = self._launch(e.name, snapshot, e.coserve, now)
            if gen is None:
                log.error("endpoint %s cannot start: %s", e.name, reason)
                refused.append(e.name)
                continue
            self._switch(e.name, gen)
            if e.running is not None:
                self.restoring[e.name] = gen
                self.store.system_updating(e.name, True)
            else:
                self.launching[e.name] = _Launch(gen, e.generation, tolerant=True)
        return refused

    def serving(self, name: str) -> bool:
        """Whether the endpoint's routing points at a settled generation (false while it is brought back)."""
        return name in self.live and name not in self.restoring

    def tick(self, now: float) -> None:
        self._now = now
        if self.outage.usable(now):
            try:
                self._restored()
                for work in self.outage.read(self.store.pending):
                    if work.status == "Deleting":
                        self._delete(work)
                    else:
                        self._converge(work)
            except StateUnavailable as exc:
                self.outage.failed(exc, now)
            else:
                self.outage.succeeded(now)
        self.retiring = [g for g in self.retiring if not self.fleet.gone(g)]

    def busy(self) -> bool:
        """Whether anything is still starting or stopping (a shutdown waits for none of it)."""
        return bool(self.launching or self.restoring or self.retiring)

    def generations(self) -> Iterable[Generation]:
        yield from self.live.values()
        yield from (launch.gen for launch in self.launching.values())
        yield from self.restoring.values()
        yield from self.retiring

    def _restored(self) -> None:
        for name, gen in list(self.restoring.items()):
            progress = self.fleet.progress(gen)
            if progress.ready(tolerant=True):
                self.store.system_updating(name, False)
                del self.restoring[name]
                if progress.fatal:
                    log.error("endpoint %s is back, but not whole: %s", name, progress.reason)

    def _converge(self, work: Work) -> None:
        assert work.target is not None, "Creating and Updating carry a target"
        launch = self.launching.get(work.name)
        if launch is not None and launch.work_generation != work.generation:
            self._retire(self.launching.pop(work.name).gen)  # superseded by a newer call: start over
            launch = None
        if launch is None:
            gen, reason = self._launch(work.name, work.target, work.coserve, self._now)
            if gen is None:
                self._fail(work, reason)
            else:
                self.launching[work.name] = _Launch(gen, work.generation)
            return
        progress = self.fleet.progress(launch.gen)
        if progress.failed(launch.tolerant):
            self._fail(work, progress.reason)
            del self.launching[work.name]
            if self.live.get(work.name) == launch.gen:
                del self.live[work.name]
                self.fleet.route(work.name, None)
            self._retire(launch.gen)
        elif progress.ready(launch.tolerant):
            # Recorded first, switched in the same tick: nothing else runs on this loop in between.
            self.store.mark_in_service(work, progress.reason or None)
            del self.launching[work.name]
            self.restoring.pop(work.name, None)  # an update that overtook a restart's bring-back: it goes now
            self._switch(work.name, launch.gen)
            log.info("endpoint %s: InService on %s", work.name, work.target.config_name)

    def _delete(self, work: Work) -> None:
        held = self.launching.pop(work.name, None)
        if held is not None:
            self._retire(held.gen)
        for gen in (self.restoring.pop(work.name, None), self.live.pop(work.name, None)):
            if gen is not None:
                self._retire(gen)
        self.fleet.route(work.name, None)
        if not any(g.endpoint == work.name for g in self.retiring):
            self.store.forget(work)
            log.info("endpoint %s: deleted", work.name)

    def _launch(self, name: str, snapshot: Snapshot, coserve: object, now: float) -> tuple[Generation | None, str]:
        try:
            deployment = to_deployment(name, snapshot, coserve if isinstance(coserve, dict) else None)
        except ValidationException as exc:
            return None, exc.message
        self._serials[name] = self._serials.get(name, 0) + 1
        gen = Generation(name, self._serials[name])
        reason = self.fleet.launch(gen, deployment, now)
        return (None, reason) if reason is not None else (gen, "")

    def _switch(self, name: str, gen: Generation) -> None:
        old = self.live.get(name)
        self.fleet.route(name, gen)
        self.live[name] = gen
        if old is not None and old != gen:
            self._retire(old)

    def _retire(self, gen: Generation) -> None:
        if gen not in self.retiring:
            self.retiring.append(gen)
            self.fleet.retire(gen, self._now)

    def _fail(self, work: Work, reason: str) -> None:
        log.error("endpoint %s: %s failed: %s", work.name, work.status, reason)
        if work.status == "Creating":
            self.store.mark_failed(work, reason)
        else:
            self.store.mark_update_failed(work, reason)
