"""The two server shapes, each one uvicorn process: built-in (model in-process) and front (binary as a child).

Ports are bound before TensorFlow imports, so /ping answers 502 (not a refused connection) while models load.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from adapters.preflight import TF_GRPC, describe, installed
from servers.tfs.backend import InProcess, Upstream
from servers.tfs.discovery import ModelSource
from servers.tfs.handlers import UserHandlers, load_user_code
from servers.tfs.invocations import SageMakerFront
from servers.tfs.launcher import TfsProcess
from servers.tfs.registry import Registry
from servers.tfs.rest import TfsRestApi
from servers.tfs.settings import Settings

log = logging.getLogger("servers.tfs.server")
GRPC_WORKERS = 4


class Outcome:
    """What the background threads report to the main thread: startup failed, so exit non-zero."""

    def __init__(self) -> None:
        self.failed = False
        self.ready = threading.Event()
        self.on_stop: list[Callable[[], Any]] = []


def run_builtin(settings: Settings, models: list[ModelSource], default: ModelSource) -> int:
    registry = Registry(models, default.name)
    backend = InProcess(registry)
    outcome = Outcome()
    front = SageMakerFront(backend, default.name, (settings.grpc_port, settings.rest_port), outcome.ready.is_set)
    rest = TfsRestApi(backend)
    routes = [
        Route("/ping", front.ping, methods=["GET"]),
        Route("/invocations", front.invocations, methods=["POST"]),
        Route("/v1/models/{path:path}", rest.get, methods=["GET"]),
        Route("/v1/models/{path:path}", rest.post, methods=["POST"]),
    ]
    server = _server(Starlette(routes=routes, lifespan=_lifespan(outcome)))
    # REST on the TFS port too, where the binary would have it (the same port when started in its place).
    sockets = [_listen(port) for port in dict.fromkeys((settings.bind_port, settings.rest_port))]
    loader = threading.Thread(target=_load, args=(settings, registry, front, server, outcome), name="tfs-loader")
    loader.daemon = True
    loader.start()
    server.run(sockets=sockets)
    return 1 if outcome.failed else 0


def _load(
    settings: Settings, registry: Registry, front: SageMakerFront, server: uvicorn.Server, outcome: Outcome
) -> None:
    try:
        from servers.tfs import servables  # the ~2 s TensorFlow import happens here, off the event loop

        servables.configure_threads(settings.intra_op, settings.inter_op)
        registry.load(servables.load_servable)
        _grpc(settings, registry, outcome)
        _user_code(settings, front)
    except Exception:
        log.exception("startup failed")
        outcome.failed = True
        server.should_exit = True
        return
    outcome.ready.set()
    grpc = f":{settings.grpc_port}" if installed(TF_GRPC.module) else "off"
    log.info("ready: models %s (default %s) on :%s, REST :%s, gRPC %s", sorted(registry.sources),
             registry.default, settings.bind_port, settings.rest_port, grpc)  # fmt: skip


def _grpc(settings: Settings, registry: Registry, outcome: Outcome) -> None:
    """TF Serving's gRPC API, when tensorflow-serving-api is installed (an optional extra: see preflight)."""
    if not installed(TF_GRPC.module):
        log.warning("gRPC API on :%s off: %s", settings.grpc_port, describe(TF_GRPC))
        return
    from servers.tfs.grpc_service import start_grpc

    grpc_server = start_grpc(registry, settings.grpc_port, GRPC_WORKERS)
    outcome.on_stop.append(lambda: grpc_server.stop(1.0).wait())


def _user_code(settings: Settings, front: SageMakerFront) -> None:
    # inference.py may read these, as under SageMaker's serve.py.
    os.environ["TFS_GRPC_PORTS"], os.environ["TFS_REST_PORTS"] = str(settings.grpc_port), str(settings.rest_port)
    code = load_user_code(settings.model_dir)
    if code is not None:
        front.user = UserHandlers(code, front.backend)
        log.info("using %s/code/inference.py", settings.model_dir)


def run_front(settings: Settings, models: list[ModelSource], default: ModelSource, binary: str) -> int:
    upstream = Upstream(settings.rest_port, settings.read_timeout_s)
    outcome = Outcome()
    front = SageMakerFront(upstream, default.name, (settings.grpc_port, settings.rest_port), outcome.ready.is_set)
    _user_code(settings, front)
    tfs = TfsProcess(binary, settings, models)
    outcome.on_stop += [upstream.close, tfs.stop]
    routes = [Route("/ping", front.ping, methods=["GET"]), Route("/invocations", front.invocations, methods=["POST"])]
    server = _server(Starlette(routes=routes, lifespan=_lifespan(outcome, upstream.start)))
    sockets = [_listen(settings.bind_port)]
    tfs.start()
    threading.Thread(target=_watch, args=(tfs, server, outcome), name="tfs-watch", daemon=True).start()
    outcome.ready.set()  # from here /ping asks the binary
    server.run(sockets=sockets)
    tfs.stop()
    return 1 if outcome.failed else 0


def _watch(tfs: TfsProcess, server: uvicorn.Server, outcome: Outcome) -> None:
    code = tfs.wait()
    if not server.should_exit:
        log.error("tensorflow_model_server exited (status %s); stopping", code)
        outcome.failed = True
        server.should_exit = True


def _lifespan(outcome: Outcome, start: Callable[[], Any] | None = None) -> Any:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if start is not None:
            await start()
        yield
        for stop in outcome.on_stop:
            result = stop()
            if hasattr(result, "__await__"):
                await result

    return lifespan


def _server(app: Starlette) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False, timeout_graceful_shutdown=10)
    return uvicorn.Server(config)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    return sock
