"""The front door's process shape: uvicorn in this process, or gunicorn with N uvicorn workers.

With workers, the supervisor stays the one parent of every container; gunicorn is just another child, and its
workers build the same app (runtime.frontdoor.app) from what the supervisor published in the run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from runtime import rundir
from runtime.config import Deployment
from runtime.frontdoor.app import build_front_app
from runtime.frontdoor.settings import SERVER_OPTIONS, FrontSettings
from runtime.metrics import RouterMetrics
from runtime.published import write_atomic
from runtime.router import memory
from runtime.router.app import FrontDoorApp
from runtime.router.protocol import protocol_class
from runtime.routing import TableSource

log = logging.getLogger("runtime.main")
GUNICORN_QUIT_EVERY_S = 0.5


def check_ports(d: Deployment, host: str, port: int) -> None:
    """Fail before anything starts if a port we need is taken, naming it and its owner's role."""
    wanted = [(host, port, "the front door (--port)")]
    if d.server.status_listen is not None:
        listen_host, _, listen_port = d.server.status_listen.rpartition(":")
        wanted.append((listen_host.strip("[]"), int(listen_port), "the status listener (Coserve.Server.StatusListen)"))
    for c in d.containers:
        bind = d.server.container_port(c.index)
        wanted.append(("127.0.0.1", bind, f"container {c.hostname} (Coserve.Server.PortBase)"))
    for addr, number, role in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, number))
            except OSError as exc:
                raise SystemExit(f"coserve: port {addr}:{number} for {role} is not free: {exc.strerror}") from exc


class _Server(uvicorn.Server):
    """uvicorn's own signal capture would re-raise SIGTERM after it stops; the runtime owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FrontDoor:
    def __init__(self, settings: FrontSettings, run: rundir.RunDir, table: TableSource, host: str, port: int,
                 metrics: RouterMetrics) -> None:  # fmt: skip
        self.settings = settings
        self.run = run
        self.table = table  # the supervisor's holder; workers follow the file it also writes
        self.host = host
        self.port = port
        self.metrics = metrics  # served in this process; gunicorn workers build their own from the files
        self._servers: list[tuple[_Server, asyncio.Task[None]]] = []  # the front door and the status listener
        self._gunicorn: subprocess.Popen[bytes] | None = None
        self._forced = False
        self._app: FrontDoorApp | None = None  # in this process only (no workers)
        self.on_queued: Callable[[], None] | None = None  # the async worker's wake, when it shares this process

    async def start(self) -> None:
        s = self.settings
        if s.status_listen is not None:  # with workers, it reads their files and the supervisor's own snapshot
            host, _, port = s.status_listen.rpartition(":")
            self.metrics.start()
            await self._serve(Starlette(routes=self.metrics.routes()), host.strip("[]"), int(port), "off")
            log.info("status listener: unsigned /metrics and /coserve/status on http://%s", s.status_listen)
        if s.workers > 1:
            write_atomic(self.run.settings, s.to_json(), rundir.SECRET_MODE)
            # Popen returns once forked; there is nothing to wait on here. Its own process group: a terminal's
            # Ctrl-C reaches coserve alone, which drains in order (gunicorn takes SIGINT for a quick shutdown).
            self._gunicorn = subprocess.Popen(  # noqa: ASYNC220
                self._gunicorn_argv(), env=self._worker_env(), process_group=0
            )
            log.info("front door: gunicorn pid=%d with %d workers on %s:%d",
                     self._gunicorn.pid, s.workers, self.host, self.port)  # fmt: skip
            return
        self._app = build_front_app(s, self.table, self.metrics, self.on_queued)
        await self._serve(self._app, self.host, self.port, "on")
        memory.settle_heap()
        log.info("front door: listening on http://%s:%d", self.host, self.port)

    async def _serve(self, app: ASGIApp, host: str, port: int, lifespan: Literal["on", "off"]) -> None:
        """One uvicorn server in this process, with the front door's connection limits; returns once it listens."""
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan=lifespan,
            timeout_graceful_shutdown=max(int(self.settings.drain_timeout_s), 1),
            http=protocol_class(self.settings.limits), timeout_keep_alive=self.settings.keep_alive_s,  # type: ignore[arg-type]
            **SERVER_OPTIONS,  # type: ignore[arg-type]
        )  # fmt: skip
        server = _Server(config)
        task = asyncio.create_task(server.serve())
        self._servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise SystemExit(f"coserve: the front door did not start on {host}:{port}")
            await asyncio.sleep(0.01)

    def _gunicorn_argv(self) -> list[str]:
        s = self.settings
        return [
            sys.executable, "-m", "gunicorn", "--workers", str(s.workers),
            "--worker-class", "runtime.frontdoor.gworker.LimitedWorker", "--bind", f"{self.host}:{self.port}",
            "--graceful-timeout", str(max(int(s.drain_timeout_s), 1)), "--timeout", "0",
            "--log-level", "warning", "runtime.frontdoor.worker:create_app()",
        ]  # fmt: skip

    def _worker_env(self) -> dict[str, str]:
        """The run directory, where the workers find everything; prometheus_client's own variable besides."""
        return {**os.environ, rundir.ENV: str(self.run.root.resolve()),
                "PROMETHEUS_MULTIPROC_DIR": str(self.run.prometheus.resolve())}  # fmt: skip

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded by DrainTimeout, cut short by force()), return."""
        for server, _ in self._servers:
            server.should_exit = True
        for server, task in self._servers:
            await task
            if server.force_exit:  # uvicorn skips the app's lifespan shutdown then: run it, so nothing is left waiting
                await server.lifespan.shutdown()
        self._servers = []
        if self._gunicorn is not None:
            await self._stop_gunicorn(self._gunicorn)
            self._gunicorn = None

    async def _stop_gunicorn(self, gunicorn: subprocess.Popen[bytes]) -> None:
        """SIGTERM: gunicorn drains its workers for --graceful-timeout; SIGQUIT once forced. gunicorn drops a QUIT
        that arrives together with the TERM (it acts on the first signal of a batch), so a forced stop repeats it."""
        gunicorn.send_signal(signal.SIGQUIT if self._forced else signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline, quit_at = loop.time() + self.settings.drain_timeout_s + 5, loop.time() + GUNICORN_QUIT_EVERY_S
        while gunicorn.poll() is None:
            if loop.time() >= deadline:
                gunicorn.kill()
                break
            if self._forced and loop.time() >= quit_at:
                gunicorn.send_signal(signal.SIGQUIT)
                quit_at = loop.time() + GUNICORN_QUIT_EVERY_S
            await asyncio.sleep(0.05)  # polling a child's exit status: no blocking wait on the event loop
        gunicorn.wait()

    def in_flight(self, port: int) -> int | None:
        """Requests under way to the container on `port`, or None where this process cannot know (workers)."""
        if self._app is None:
            return None
        return self._app.router.in_flight.counts.get(port, 0)

    def force(self) -> None:
        """A second signal: drop the requests still in flight now (uvicorn's force exit, gunicorn's quick shutdown);
        a stop() under way returns within moments."""
        self._forced = True
        for server, _ in self._servers:
            server.force_exit = True
        if self._gunicorn is not None and self._gunicorn.poll() is None:
            self._gunicorn.send_signal(signal.SIGQUIT)  # and again from _stop_gunicorn until it is gone
