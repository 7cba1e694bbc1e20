"""The front door's process shape: uvicorn in this process, or gunicorn with N uvicorn workers.

With workers, the supervisor stays the one parent of every container; gunicorn is just another
child, and its workers follow the routing table through the file the supervisor rewrites.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from runtime.config import Deployment
from runtime.metrics import RouterMetrics, multiproc_dir
from runtime.router import Router, RouterSettings, build_app, memory
from runtime.router.guard import make_guard, make_page_guard
from runtime.router.protocol import ConnectionLimits, protocol_class
from runtime.routing import TableSource

log = logging.getLogger("runtime.main")
# Per request, uvicorn's X-Forwarded-* middleware is one more ASGI layer (nothing here reads the client address),
# and its `server: uvicorn` header two more regex checks and bytes on every answer: both off, here and in workers.
SERVER_OPTIONS: dict[str, object] = {"proxy_headers": False, "server_header": False}


def router_settings(d: Deployment) -> RouterSettings:
    s = d.server
    return RouterSettings(timeout_s=s.invocation_timeout_s, max_payload=s.max_payload_bytes,
                          max_response=s.max_response_bytes, max_in_flight=s.max_in_flight,
                          first_byte_timeout_s=s.stream_first_byte_timeout_s,
                          chunk_timeout_s=s.stream_chunk_timeout_s)  # fmt: skip


def connection_limits(d: Deployment) -> ConnectionLimits:
    s = d.server
    return ConnectionLimits(max_header_bytes=s.max_header_bytes, max_headers=s.max_headers,
                            header_timeout_s=s.header_timeout_s, body_timeout_s=s.body_timeout_s,
                            max_connections=s.max_connections)  # fmt: skip


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
    def __init__(self, d: Deployment, source: TableSource, table_path: Path, host: str, port: int,
                 metrics: RouterMetrics) -> None:  # fmt: skip
        self.d = d
        self.source = source
        self.table_path = table_path
        self.host = host
        self.port = port
        self.metrics = metrics  # served in this process; gunicorn workers build their own from the files
        self._servers: list[tuple[_Server, asyncio.Task[None]]] = []  # the front door and the status listener
        self._gunicorn: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        requests = self.metrics.start()  # with workers, only the status listener reads it (their files)
        if self.d.server.status_listen is not None:
            host, _, port = self.d.server.status_listen.rpartition(":")
            await self._serve(Starlette(routes=self.metrics.routes()), host.strip("[]"), int(port), "off")
            log.info("status listener: unsigned /metrics and /coserve/status on http://%s", self.d.server.status_listen)
        if self.d.server.workers > 1:
            # Popen returns once forked; there is nothing to wait on here.
            self._gunicorn = subprocess.Popen(self._gunicorn_argv(), env=self._worker_env())  # noqa: ASYNC220
            log.info("front door: gunicorn pid=%d with %d workers on %s:%d",
                     self._gunicorn.pid, self.d.server.workers, self.host, self.port)  # fmt: skip
            return
        router = Router(self.source, router_settings(self.d), make_guard(self.d), requests.observe)
        app = build_app(router, self.metrics.routes(make_page_guard(self.d)), requests)
        await self._serve(app, self.host, self.port, "on")
        memory.settle_heap()
        log.info("front door: listening on http://%s:%d", self.host, self.port)

    async def _serve(self, app: ASGIApp, host: str, port: int, lifespan: Literal["on", "off"]) -> None:
        """One uvicorn server in this process, with the front door's connection limits; returns once it listens."""
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan=lifespan,
            timeout_graceful_shutdown=max(int(self.d.server.drain_timeout_s), 1),
            http=protocol_class(connection_limits(self.d)), timeout_keep_alive=self.d.server.keep_alive_s,  # type: ignore[arg-type]
            proxy_headers=False, server_header=False,  # see SERVER_OPTIONS
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
        s = self.d.server
        return [
            sys.executable, "-m", "gunicorn", "--workers", str(s.workers),
            "--worker-class", "runtime.router.gworker.LimitedWorker", "--bind", f"{self.host}:{self.port}",
            "--graceful-timeout", str(max(int(s.drain_timeout_s), 1)), "--timeout", "0",
            "--log-level", "warning", "runtime.router.worker:app",
        ]  # fmt: skip

    def _worker_env(self) -> dict[str, str]:
        assert self.d.source is not None, "workers re-read the deployment file"
        return {**os.environ, "COSERVE_DEPLOYMENT": str(self.d.source.resolve()),
                "COSERVE_ROUTES": str(self.table_path),
                "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir(self.d))}  # fmt: skip

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded by DrainTimeout), return."""
        servers, self._servers = self._servers, []
        for server, _ in servers:
            server.should_exit = True
        for _, task in servers:
            await task
        if self._gunicorn is not None:
            self._gunicorn.send_signal(signal.SIGTERM)
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self._gunicorn.wait, self.d.server.drain_timeout_s + 5)
            except subprocess.TimeoutExpired:
                self._gunicorn.kill()
                self._gunicorn.wait()
            self._gunicorn = None
