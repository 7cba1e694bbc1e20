"""The composition root: the only place that knows both the supervisor and the router.

Shutdown, in this order and bounded at each step:
1. stop accepting: the front door closes its listening socket;
2. drain: in-flight requests get up to Server.DrainTimeout to finish;
3. SIGTERM every container's process group (nothing restarts from here on);
4. wait up to Server.StopGrace, then SIGKILL the group and everything left in its cgroup;
5. reap, remove the cgroups and the routing table, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

import uvloop

from runtime.config import Deployment
from runtime.confinement import CgroupIsolation, choose_isolation
from runtime.dataplane import front_door
from runtime.frontdoor import check_ports
from runtime.metrics import MetricsHub
from runtime.models import ModelPreparer
from runtime.routing import TableSource, write_table
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.osproc import RealOs
from runtime.supervisor.work import AsyncWork

log = logging.getLogger("runtime.main")
TICK_S = 0.1


class Runtime:
    def __init__(self, deployment: Deployment, host: str, port: int) -> None:
        self.deployment = deployment
        self.host = host
        self.port = port
        self.exit_code = 0
        self._stop = asyncio.Event()
        self._metrics: MetricsHub | None = None
        self._os: RealOs | None = None

    def request_stop(self, code: int = 0) -> None:
        """Safe from a signal handler: it only records and wakes the main loop."""
        self.exit_code = self.exit_code or code
        self._stop.set()

    async def run(self) -> int:
        d = self.deployment
        # Isolation first: its sweep kills the containers of an earlier run killed with -9, which hold ports.
        isolation = choose_isolation(d)
        try:
            check_ports(d, self.host, self.port)
        except SystemExit:
            isolation.close()
            raise
        for folder in (d.server.log_dir, d.server.run_dir, d.storage.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        preparer = ModelPreparer(d)
        preparer.store.start()  # sweep a crash's temp files, prune to the budget
        work = AsyncWork(preparer.prepare, preparer.ready)
        stats = isolation.stats if isinstance(isolation, CgroupIsolation) else lambda hostname: None
        ledger = isolation.ledger if isinstance(isolation, CgroupIsolation) else None
        metrics = self._metrics = MetricsHub(d, stats, preparer.store.stats, ledger)
        metrics.prepare()  # before the front door: gunicorn workers need an empty multiprocess directory
        self._os = RealOs(d.server.log_max_bytes, d.server.log_backups)
        supervisor = Supervisor(d, self._os, work, isolation, self._on_event)
        table_path = d.server.run_dir / "routes.json"
        source = TableSource(supervisor.table())
        write_table(supervisor.table(), table_path)
        door = front_door(d, source, table_path, self.host, self.port, metrics.router)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await door.start()
            supervisor.start(time.monotonic())
            await self._supervise(supervisor, source, table_path)
            log.info("shutting down: draining requests for up to %gs", d.server.drain_timeout_s)
            await door.stop()
            await self._stop_containers(supervisor, source, table_path)
        finally:
            await door.stop()
            await work.close()
            preparer.store.close()
            metrics.close(time.monotonic())  # while the cgroups still exist: the last EMF lines read them
            supervisor.close()
            self._os.close()
            table_path.unlink(missing_ok=True)
        log.info("stopped; exit code %d", self.exit_code)
        return self.exit_code

    def _on_event(self, event: Event) -> None:
        if self._metrics is not None:
            self._metrics.on_event(event)
        if self._os is not None:  # the lifecycle lands in the container's own log, between its output lines
            line = f"coserve: {event.old.value} -> {event.new.value}: {event.message}"
            self._os.container_log(self.deployment.server.container_log(event.hostname)).write(line.encode())
        failed_fetch = event.old is State.FETCHING and event.new is State.FATAL
        if failed_fetch and self.deployment.server.on_artifact_error == "exit":
            log.error("container '%s' cannot start: %s", event.hostname, event.message)
            self.request_stop(1)

    async def _supervise(self, supervisor: Supervisor, source: TableSource, path: Path) -> None:
        published = -1
        while not self._stop.is_set():
            supervisor.tick(time.monotonic())
            if self._metrics is not None:
                self._metrics.tick(time.monotonic())
            if supervisor.version != published:
                published = supervisor.version
                table = supervisor.table()
                source.set(table)
                write_table(table, path)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK_S)

    async def _stop_containers(self, supervisor: Supervisor, source: TableSource, path: Path) -> None:
        supervisor.begin_stop(time.monotonic())
        while not supervisor.all_stopped():
            supervisor.tick(time.monotonic())
            await asyncio.sleep(TICK_S)
        source.set(supervisor.table())


def serve(deployment: Deployment, host: str, port: int) -> int:
    # uvloop: about 8% less front-door CPU per request than asyncio's selector loop (benchmarks/overhead.py).
    return uvloop.run(Runtime(deployment, host, port).run())


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
