"""The control plane served for real: ControlPlane under uvicorn on 127.0.0.1, driven by real boto3.

No reconciler runs here (the real one is wired into the host later): tests move endpoints on through the
store's reconciler interface themselves (`FakeReconciler`), exactly as the reconciler will.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config

from runtime.control.api import ControlGuard, ControlPlane, accepts
from runtime.control.context import Context, HostLimits
from runtime.control.records import Work
from runtime.control.store import Store
from tests.support import wait_for


@dataclass
class Served:
    url: str
    store: Store
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket  # the listening socket uvicorn serves on (closed at stop)

    def client(self, **kw: Any) -> Any:
        return boto3.client(
            "sagemaker", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=kw.pop("key", "x"), aws_secret_access_key=kw.pop("secret", "x"),
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}), **kw,
        )  # fmt: skip

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        self.sock.close()


def serve(store: Store, limits: HostLimits | None = None, guard: ControlGuard | None = None) -> Served:
    """ControlPlane behind a minimal front: what the integrator's router does for POST / with X-Amz-Target."""
    plane = ControlPlane(Context(store, limits=limits or HostLimits()), guard).load()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert accepts(scope), "the tests send control-plane requests only"
        await plane(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    port = sock.getsockname()[1]
    return Served(f"http://127.0.0.1:{port}", store, server, thread, sock)


class FakeReconciler:
    """Stands in for the reconciler (wired into the host later): moves endpoints on when the test says so."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def work(self, name: str) -> Work:
        return next(w for w in self.store.pending() if w.name.lower() == name.lower())

    def succeed(self, name: str) -> None:
        w = self.work(name)
        assert self.store.forget(w) if w.status == "Deleting" else self.store.mark_in_service(w)

    def fail(self, name: str, reason: str) -> None:
        w = self.work(name)
        ok = self.store.mark_update_failed(w, reason) if w.status == "Updating" else self.store.mark_failed(w, reason)
        assert ok


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path) -> Iterator[Store]:
    s = Store(state_dir).open()
    yield s
    s.close()


@pytest.fixture
def served(store: Store) -> Iterator[Served]:
    s = serve(store)
    yield s
    s.stop()


@pytest.fixture
def sm(served: Served) -> Iterator[Any]:
    client = served.client()
    yield client
    client.close()


@pytest.fixture
def reconciler(store: Store) -> FakeReconciler:
    return FakeReconciler(store)
