"""A process that serves InvokeEndpointAsync with runtime.asyncinv's handler and worker, for the tests.

    python -m tests.runtime.asyncinv.serve --db DB --port P --container URL --endpoints FILE [--trace FILE]
        [--invoker router|direct] [--auth FILE]

What it stands in for, and why: the composition root wires the handler into the front door's app and runs the
worker beside the supervisor; that wiring is the integrator's. Here a bare ASGI app serves the handler, and the
endpoints' configs come from a JSON file ({name: CreateEndpointConfig request}) instead of the control plane's
store. The Invoker is the router's own invoke path (`router_invoker`) over a routing table whose endpoints are
all one real container process (tests/containers/echo.py, at --container), or with `--invoker direct` a minimal
one that POSTs to the container itself (what any other invoke path that answers raw container errors would do).
Everything else is the real code: the SQLite queue file, the worker, boto3 against a real S3 (credentials and
endpoint from the environment), uvicorn on 127.0.0.1. `--trace` appends one JSON line per invocation start and
end, so a test can count how many were in flight at once. GET /metrics serves the backlog and latency figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from prometheus_client import CollectorRegistry, generate_latest

from runtime.asyncinv import (
    AsyncConfig,
    AsyncInvocations,
    AsyncQueue,
    AsyncWorker,
    EndpointNotFound,
    WorkerSettings,
    accepts,
    from_endpoint_config,
    make_async_guard,
    register,
)
from runtime.asyncinv.invoker import router_invoker
from runtime.auth.build import build_authenticator
from runtime.published import Published
from runtime.router import Router, RouterSettings
from runtime.routing import ContainerRoute, EndpointTable, HostTable
from runtime.storage.s3 import make_client
from runtime.storage.settings import StorageSettings


class Tracer:
    def __init__(self, path: Path | None) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if path else None

    def note(self, event: str, inference_id: str) -> None:
        if self.fd is not None:  # one write per line: O_APPEND keeps lines whole
            os.write(self.fd, (json.dumps({"e": event, "id": inference_id, "t": time.time()}) + "\n").encode())


def build(args: argparse.Namespace) -> Any:
    configs: dict[str, Any] = json.loads(Path(args.endpoints).read_text())
    tracer = Tracer(Path(args.trace) if args.trace else None)
    client = httpx.AsyncClient(base_url=args.container)

    def lookup(name: str) -> AsyncConfig | None:
        found = {k.lower(): v for k, v in configs.items()}.get(name.lower())
        if found is None:
            raise EndpointNotFound(name)
        return from_endpoint_config(found)

    async def direct(endpoint: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Any:
        try:
            r = await client.post("/invocations", content=body, headers=dict(headers), timeout=timeout_s)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc  # what the Invoker seam raises when the timeout passes
        return r.status_code, dict(r.headers), r.content

    port = int(args.container.rsplit(":", 1)[1])
    route = ContainerRoute("primary", port, "RUNNING", "/var/log/coserve/primary.log")
    table = HostTable(tuple(EndpointTable(name, "AllTraffic", "Serial", (route,)) for name in configs))
    router = Router(Published(table), RouterSettings())
    inner = direct if args.invoker == "direct" else router_invoker(router)

    async def invoker(endpoint: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Any:
        tracer.note("start", headers.get("x-amzn-sagemaker-inference-id", ""))
        try:
            return await inner(endpoint, body, headers, timeout_s)
        finally:
            tracer.note("end", headers.get("x-amzn-sagemaker-inference-id", ""))

    storage = StorageSettings(cache_dir=Path(tempfile.gettempdir()), s3_addressing_style="path")
    queue = AsyncQueue(Path(args.db))
    registry = CollectorRegistry()
    auth = build_authenticator(json.loads(Path(args.auth).read_text()), None) if args.auth else None
    settings = WorkerSettings(poll_s=0.2)
    state: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif accepts(scope):
            await state["handler"](scope, receive, send)
        elif scope["path"] == "/metrics":
            body = generate_latest(registry)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def lifespan(receive: Any, send: Any) -> None:
        await receive()  # startup
        queue.open()
        latency = register(registry, queue)
        s3 = make_client(storage)  # one client: boto3 clients are thread-safe, and building one is slow
        worker = AsyncWorker(queue, lookup, invoker, lambda: s3, settings, latency.observe)
        await worker.start()
        state["handler"] = AsyncInvocations(queue, lookup, worker.wake, make_async_guard(auth))
        await send({"type": "lifespan.startup.complete"})
        await receive()  # shutdown
        await worker.stop()
        await client.aclose()
        await router.upstream.close()
        queue.close()
        logging.getLogger("serve").info("stopped: worker drained, queue closed")
        await send({"type": "lifespan.shutdown.complete"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--db", "--port", "--container", "--endpoints"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--trace")
    parser.add_argument("--auth", help="a Coserve.Auth section as JSON")
    parser.add_argument("--invoker", choices=("router", "direct"), default="router")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(build(args), host="127.0.0.1", port=int(args.port), log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
