"""The front door with `DataPlane: haproxy`: HAProxy on the public port, the Python front door behind it on loopback.

The same start()/stop() as runtime.frontdoor.FrontDoor, so the composition root treats both alike. Besides, a watch
task follows the routing table (RUNNING containers in or out of HAProxy's map, through its runtime API: no reload,
no dropped connection), folds HAProxy's counters into the metrics once a second, and restarts HAProxy if it dies.

Shutdown, bounded by DrainTimeout: HAProxy's listener is shut (new connections are refused), requests under way
finish, the last counters are folded, HAProxy soft-stops, then the Python front door drains and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import replace

from runtime.config import Deployment
from runtime.dataplane.lua import SOURCE
from runtime.dataplane.process import HAProxy, find_haproxy
from runtime.dataplane.render import Paths, backend, errorfiles, map_lines, render
from runtime.dataplane.stats import Fold
from runtime.frontdoor import FrontDoor, FrontSettings
from runtime.metrics import RouterMetrics
from runtime.routing import HostTable, TableSource
from runtime.rundir import RunDir

log = logging.getLogger("runtime.dataplane")
WATCH_S = 0.1
FOLD_S = 1.0
# HAProxy keeps its connections to the Python front door for reuse: Python must not close them as idle clients first.
INNER_KEEP_ALIVE_S = 3600.0


def loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DataPlaneDoor:
    def __init__(self, d: Deployment, settings: FrontSettings, run: RunDir, source: TableSource, host: str, port: int,
                 metrics: RouterMetrics) -> None:  # fmt: skip
        self.d = d
        self.source = source
        self.public = (host, port)
        self.metrics = metrics
        self.paths = Paths(run.root / "dataplane")
        self.inner_port = loopback_port()
        inner = replace(settings, keep_alive_s=INNER_KEEP_ALIVE_S)
        self.python = FrontDoor(inner, run, source, "127.0.0.1", self.inner_port, metrics)
        self.haproxy: HAProxy | None = None
        self.fold: Fold | None = None
        self._map: dict[str, str] = {}
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.d.server.workers > 1:  # `serve --workers N` comes after the file's validation
            raise SystemExit(f"coserve: --workers {self.d.server.workers}: DataPlane haproxy runs one router process")
        binary = find_haproxy()
        if binary is None:
            raise SystemExit("coserve: Coserve.Server.DataPlane is haproxy but no haproxy binary was found "
                             "(images/install.sh --extras dataplane installs it)")  # fmt: skip
        self._write_files(self.source.get())
        self.haproxy = HAProxy(binary, self.paths.config, self.paths.socket, self.d.server.log_dir / "haproxy.log")
        self.haproxy.check()
        await self.python.start()
        assert self.metrics.requests is not None
        hosts = {backend(c.index): c.hostname for c in self.d.containers}
        self.fold = Fold(self.metrics.requests, hosts)
        self.haproxy.start()
        await asyncio.to_thread(self.haproxy.wait_ready, 10.0)
        log.info("front door: haproxy on http://%s:%d, python on 127.0.0.1:%d", *self.public, self.inner_port)
        self._watch = asyncio.create_task(self._follow())

    def _write_files(self, table: HostTable) -> None:
        (self.paths.folder / "errors").mkdir(parents=True, exist_ok=True)
        for name, content in errorfiles(self.d).items():
            self.paths.errorfile(name).write_bytes(content)
        self.paths.lua.write_text(SOURCE)
        self._map = map_lines(table, self.d)
        self._write_map()
        self.paths.config.write_text(render(self.d, self.paths, self.public, self.inner_port))

    def _write_map(self) -> None:
        """The map file as well as the live map: a restarted HAProxy loads the current one."""
        tmp = self.paths.routes.with_suffix(".tmp")
        tmp.write_text("".join(f"{k} {v}\n" for k, v in self._map.items()))
        tmp.replace(self.paths.routes)

    async def _follow(self) -> None:
        folded = 0.0
        while True:
            await asyncio.sleep(WATCH_S)
            assert self.haproxy is not None and self.fold is not None
            fold = time.monotonic() >= folded + FOLD_S
            try:
                if self.haproxy.ensure(time.monotonic()):  # here, not in a thread: its death signal is this thread's
                    self.fold.reset()  # a new HAProxy counts from 0, and loads the map file as it stands
                    await asyncio.to_thread(self.haproxy.wait_ready, 10.0)
                wanted = map_lines(self.source.get(), self.d)
                if wanted != self._map or fold:  # the runtime API is a socket round trip: only when needed
                    await asyncio.to_thread(self._step, wanted, fold)
            except (OSError, SystemExit) as exc:  # HAProxy restarting or busy: the next step tries again
                log.warning("data plane: haproxy's runtime API: %s", exc)
            except Exception:  # never let the watch die: routing would stop following the table
                log.exception("data plane: unexpected failure following the routing table")
            folded = time.monotonic() if fold else folded

    def _step(self, wanted: dict[str, str], fold: bool) -> None:
        if wanted != self._map:
            self._apply(wanted)
        if fold:
            self._fold()

    def _fold(self) -> None:
        assert self.haproxy is not None and self.fold is not None
        counts = self.haproxy.command("coserve counts")  # first: `show stat` already counts what it lists
        self.fold.add(self.haproxy.command("show stat"), counts)

    def _apply(self, wanted: dict[str, str]) -> None:
        """Keys out first, then in, through the runtime API; the file follows."""
        assert self.haproxy is not None
        for key in self._map.keys() - wanted.keys():
            self.haproxy.command(f"del map {self.paths.routes} {key}")
        for key in wanted.keys() - self._map.keys():
            self.haproxy.command(f"add map {self.paths.routes} {key} {wanted[key]}")
        self._map = wanted
        self._write_map()
        log.info("data plane: relaying to %s", ", ".join(sorted(wanted)) or "no container")

    @property
    def on_queued(self) -> Callable[[], None] | None:
        return self.python.on_queued

    @on_queued.setter
    def on_queued(self, wake: Callable[[], None] | None) -> None:
        self.python.on_queued = wake  # InvokeEndpointAsync is Python's

    def in_flight(self, port: int) -> int | None:
        """Not knowable here for the file's containers (HAProxy relays to them): a drain then waits DrainTimeout."""
        relayed = port in {self.d.server.container_port(c.index) for c in self.d.containers}
        return None if relayed else self.python.in_flight(port)

    def force(self) -> None:
        if self.haproxy is not None:
            self.haproxy.stop(0)
        self.python.force()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        try:
            if self.haproxy is not None:
                await asyncio.to_thread(self._drain)
        finally:
            if self.haproxy is not None:
                self.haproxy.stop(0)  # a no-op once drained; otherwise it must not outlive coserve
                self.haproxy = None
            await self.python.stop()
            shutil.rmtree(self.paths.folder, ignore_errors=True)

    def _drain(self) -> None:
        assert self.haproxy is not None
        grace = self.d.server.drain_timeout_s
        if self.haproxy.alive() and self.fold is not None:  # not when start() failed before HAProxy served
            with contextlib.suppress(OSError, ValueError):
                self.haproxy.command("shutdown frontend coserve")  # refused from now on; open requests go on
                deadline = time.monotonic() + grace
                while _in_flight(self.haproxy.command("show stat")) and time.monotonic() < deadline:
                    time.sleep(0.05)  # poll interval, bounded by DrainTimeout
                self._fold()
        self.haproxy.stop(grace + 1)


def _in_flight(csv_text: str) -> int:
    """Requests under way: the backends' current streams (`scur` on BACKEND lines)."""
    total = 0
    for line in csv_text.splitlines():
        fields = line.split(",")
        if len(fields) > 4 and fields[1] == "BACKEND":
            total += int(fields[4] or 0)
    return total
