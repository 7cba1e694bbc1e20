"""The composition root: the only place that knows both the supervisor and the router.

Shutdown, in this order and bounded at each step:
1. stop accepting: the front door closes its listening socket;
2. drain: in-flight requests get up to Server.DrainTimeout to finish;
3. SIGTERM every container's process group (nothing restarts from here on);
4. wait up to Server.StopGrace, then SIGKILL the group and everything left in its cgroup;
5. reap, remove the cgroups and the run directory's files, exit.
A second SIGINT or SIGTERM during these steps forces a fast exit, as uvicorn and gunicorn do: no more drain and no
grace period, every container's group is SIGKILLed at once, the cgroups and files are still removed, and the exit
code is 128 + the signal's number (130 for Ctrl-C).

With gunicorn workers, what they need is published in the run directory (runtime.rundir): the resolved front-door
settings once, the routing table on every change; they never read the deployment file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import uvloop

from runtime.asyncinv import AsyncQueue, AsyncWorker, LatencyMetrics, router_invoker, store_lookup
from runtime.auth import PolicyError
from runtime.config import Deployment
from runtime.config.load import read_document
from runtime.confinement import CgroupIsolation, choose_isolation
from runtime.control.apply import apply_document
from runtime.control.context import Context
from runtime.control.desired import to_deployment
from runtime.control.errors import ValidationException
from runtime.control.ops import HANDLERS, Operations
from runtime.control.reconcile import Reconciler
from runtime.control.schema import SchemaError
from runtime.control.state import StateUnavailable
from runtime.control.store import Store
from runtime.control.wire import Wire
from runtime.copies.controller import ComponentController
from runtime.dataplane import Door, front_door
from runtime.fleet import SupervisorFleet
from runtime.frontdoor import FrontSettings, check_ports
from runtime.metrics import MetricsHub
from runtime.metrics.members import Member
from runtime.models import ModelPreparer
from runtime.router import Router
from runtime.router.components import ComponentRouter
from runtime.routing import HostTable, TableSource
from runtime.rundir import RunDir
from runtime.storage.s3 import make_client
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.osproc import RealOs
from runtime.supervisor.units import deployment_units
from runtime.supervisor.work import AsyncWork

log = logging.getLogger("runtime.main")
TICK_S = 0.1
FORCED_WAIT_S = 5.0  # after a second signal, how long the SIGKILLed groups get to be reaped and cleaned up


class Runtime:
    def __init__(self, deployment: Deployment, host: str, port: int, state_dir: Path | None = None) -> None:
        self.deployment = deployment
        self.host = host
        self.port = port
        self.state_dir = state_dir  # None: the state lives in a temporary directory, for this process only
        self.exit_code = 0
        self._stop = asyncio.Event()
        self._forced = asyncio.Event()
        self._metrics: MetricsHub | None = None
        self._os: RealOs | None = None
        self._door: Door | None = None
        self._fleet: SupervisorFleet | None = None
        self._components: ComponentController | None = None

    def request_stop(self, code: int = 0) -> None:
        """Safe from a signal handler: it only records and wakes the main loop."""
        self.exit_code = self.exit_code or code
        self._stop.set()

    def on_signal(self, sig: int) -> None:
        """The first signal starts the ordered shutdown; a second one during it forces a fast exit."""
        if not self._stop.is_set():
            self.request_stop()
        elif not self._forced.is_set():
            log.warning("second %s during shutdown: exiting now, without draining; killing every container",
                        signal.Signals(sig).name)  # fmt: skip
            self.exit_code = 128 + sig
            self._forced.set()
            if self._door is not None:
                self._door.force()

    async def run(self) -> int:
        with contextlib.ExitStack() as stack:
            state_dir = self.state_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="coserve-state-"))
            )
            try:
                store = stack.enter_context(contextlib.closing(Store(state_dir).open()))
                return await self._run(store, state_dir)
            except SchemaError as exc:  # a state file of another coserve version: say so, touch nothing
                raise SystemExit(f"coserve: {exc}") from exc
            except StateUnavailable as exc:  # at start only: once serving, the reconciler rides an outage out
                raise SystemExit(f"coserve: the state store cannot be used: {exc}") from exc

    async def _run(self, store: Store, state_dir: Path) -> int:
        d = self.deployment
        try:
            settings = FrontSettings.of(d, state_dir)  # reads auth secrets: fail here, before anything starts
        except PolicyError as exc:
            raise SystemExit(f"coserve: Coserve.Auth: {exc}") from exc
        first = self._file_endpoint(store)  # the file's endpoint as the state has it: admitted, on today's ports
        units = deployment_units(first) if first.has_endpoint else ()
        # Isolation first: its sweep kills the containers of an earlier run killed with -9, which hold ports.
        isolation = choose_isolation(first, units)
        try:
            check_ports(d, self.host, self.port)
        except SystemExit:
            isolation.close()
            raise
        for folder in (d.server.log_dir, d.storage.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        run = RunDir(d.server.run_dir)
        run.create(d.server.workers > 1)
        preparer = ModelPreparer(d)
        preparer.store.start()  # sweep a crash's temp files, prune to the budget
        work = AsyncWork(preparer.prepare_unit)
        cgroups = isolation if isinstance(isolation, CgroupIsolation) else None
        stats = (lambda key: cgroups.stats(key.name)) if cgroups else (lambda key: None)
        ledger = (lambda: cgroups.ledger) if cgroups else (lambda: None)  # replaced on every add and forget
        metrics = self._metrics = MetricsHub(d, run, self._members, stats, preparer.store.stats, ledger)
        metrics.prepare()  # before the front door: gunicorn workers need an empty multiprocess directory
        self._os = RealOs(d.server.log_max_bytes, d.server.log_backups)
        status = [int(d.server.status_listen.rpartition(":")[2])] if d.server.status_listen else []
        supervisor = Supervisor(d.server, self._os, work, isolation, self._on_event, avoid_ports=[self.port, *status])
        file_endpoint = d.endpoint_name if d.has_endpoint else None
        fleet = self._fleet = SupervisorFleet(supervisor, d.server, file_endpoint)
        reconciler = Reconciler(store, fleet)
        components = self._components = ComponentController(
            store, supervisor, d.server, ledger, outage=reconciler.outage
        )
        components.start()
        fleet.idle.wake_by(components.signals, components.stats)  # the file's containers idle as components do
        # What ran before (and the file's endpoint) starts now, routed at once: /ping is 503 until it runs.
        try:
            refused = reconciler.restore(time.monotonic(), [file_endpoint] if file_endpoint else [])
        except StateUnavailable:
            supervisor.close()  # as for a refused endpoint: its cgroups go (nothing is spawned before a tick)
            raise
        if file_endpoint in refused:
            supervisor.close()
            raise SystemExit(f"coserve: endpoint {file_endpoint} cannot start; see the log above")
        table = TableSource.writing(run.routes)  # gunicorn workers follow the file
        table.set(components.table(fleet.table()))
        door = self._door = front_door(d, settings, run, table, self.host, self.port, metrics.router)
        fleet.in_flight = door.in_flight  # drains a retired generation by the router's own counts (one process)
        components.in_flight = door.in_flight  # idleness and drains of copies, by the same counts
        # InvokeEndpointAsync's worker, in this process: its own router over the published table.
        queue = AsyncQueue(store.path).open()
        # In one process its requests count in the front door's per-container figures, and its latencies show in
        # /metrics; gunicorn workers serve /metrics from their own files, which this process does not write.
        alone = d.server.workers <= 1
        counted = metrics.router.start().observe if alone else None
        # It wakes what idled (components, the file's containers) as the front door's router does.
        async_router = Router(table, settings.router, None, counted, ComponentRouter(table, components.signals))
        s3 = functools.cache(lambda: make_client(d.storage))  # made on the first async request, then kept
        latency = LatencyMetrics(metrics.router.registry).observe if alone else None
        worker = AsyncWorker(queue, store_lookup(store), router_invoker(async_router), s3, observer=latency)
        door.on_queued = worker.wake
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig)
        try:
            await door.start()
            await worker.start()  # takes back what a killed coserve left queued or running
            await self._supervise(supervisor, fleet, reconciler, components, table)
            log.info("shutting down: draining requests for up to %gs", d.server.drain_timeout_s)
            await door.stop()
            await self._stop_containers(supervisor, fleet, table)
        finally:
            await door.stop()
            await worker.stop()
            queue.close()
            await async_router.upstream.close()
            await work.close()
            preparer.store.close()
            metrics.close(time.monotonic())  # while the cgroups still exist: the last EMF lines read them
            supervisor.close()
            self._os.close()
            run.clean()
        log.info("stopped; exit code %d", self.exit_code)
        return self.exit_code

    def _file_endpoint(self, store: Store) -> Deployment:
        """Write the deployment file's endpoint into the state (an unchanged file changes nothing) and return what
        that endpoint starts with: what the state runs for it (the file's, unless the API updated it since),
        with the host's settings. The deployment itself for a host file (no endpoint)."""
        d = self.deployment
        if not d.has_endpoint:
            return d
        ops = Operations(Context(store))
        try:
            doc = read_document(d.source) if d.source is not None else None
            if doc is not None:
                outcome = apply_document(ops, Wire(HANDLERS).load(), doc, d.source.parent if d.source else None)
                log.info("endpoint %s: %s from %s", d.endpoint_name, outcome, d.source)
        except ValidationException as exc:
            raise SystemExit(f"coserve: {d.source}: {exc.message}") from exc
        e = store.endpoint(d.endpoint_name)
        snapshot = (e.running or e.target) if e is not None else None
        if e is None or snapshot is None:
            return d
        return replace(d, containers=to_deployment(e.name, snapshot, e.coserve).containers)

    def _members(self) -> list[Member]:
        """What the metrics and `coserve status` follow: the endpoints' containers, then the components' copies."""
        if self._fleet is None or self._components is None:
            return []
        return [*self._fleet.members(), *self._components.members()]

    def _on_event(self, event: Event) -> None:
        if self._metrics is not None:
            self._metrics.on_event(event)
        if self._fleet is not None:
            self._fleet.on_event(event)
        failed_fetch = event.old is State.FETCHING and event.new is State.FATAL
        the_files = event.key is None or event.key.endpoint == self.deployment.endpoint_name
        if failed_fetch and the_files and self.deployment.server.on_artifact_error == "exit":
            log.error("container '%s' cannot start: %s", event.hostname, event.message)
            self.request_stop(1)

    async def _supervise(self, supervisor: Supervisor, fleet: SupervisorFleet, reconciler: Reconciler,
                         components: ComponentController, table: TableSource) -> None:  # fmt: skip
        published: HostTable | None = None
        while not self._stop.is_set():
            now = time.monotonic()
            supervisor.tick(now)
            reconciler.tick(now)
            fleet.tick(now)
            components.tick(now)
            if self._metrics is not None:
                self._metrics.tick(now)
            current = components.table(fleet.table())
            if current != published:
                published = current
                table.set(current)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK_S)

    async def _stop_containers(self, supervisor: Supervisor, fleet: SupervisorFleet, table: TableSource) -> None:
        supervisor.begin_stop(time.monotonic())
        give_up = float("inf")
        while not supervisor.all_stopped() and time.monotonic() < give_up:
            now = time.monotonic()
            if self._forced.is_set():
                # Forced: the supervisor is told the grace period is over, so it SIGKILLs every STOPPING group now.
                give_up = min(give_up, now + FORCED_WAIT_S)
                now += self.deployment.server.stop_grace_s
            supervisor.tick(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._forced.wait(), TICK_S)
            if self._forced.is_set():
                await asyncio.sleep(0.01)  # wait_for returns at once once forced: let the exits arrive
        table.set(fleet.table())


def serve(deployment: Deployment, host: str, port: int, state_dir: Path | None = None) -> int:
    # uvloop: about 8% less front-door CPU per request than asyncio's selector loop (benchmarks/overhead.py).
    return uvloop.run(Runtime(deployment, host, port, state_dir).run())


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
