"""Who runs a TFS request for the SageMaker front: the model in this process, or the binary's REST API.

Both answer `(status, body)` with TF Serving's JSON, so /invocations, /ping and the user's handlers do
not care which one serves them.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import aiohttp
from starlette.concurrency import run_in_threadpool

from servers.tfs.errors import error_body, status_of
from servers.tfs.registry import Registry
from servers.tfs.sagemaker import Target

log = logging.getLogger("servers.tfs.backend")


class Backend(Protocol):
    async def infer(self, target: Target, body: bytes) -> tuple[int, bytes]: ...

    async def model_status(self, model: str) -> tuple[int, bytes]: ...


class InProcess:
    """The built-in server: the model runs in a worker thread of this process (TF releases the GIL)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def infer(self, target: Target, body: bytes) -> tuple[int, bytes]:
        return await run_in_threadpool(self.infer_now, target, body)

    def infer_now(self, target: Target, body: bytes) -> tuple[int, bytes]:
        # Imported here: TensorFlow loads in the loader thread, after this object exists.
        from servers.tfs.methods import run

        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                return 400, error_body("JSON Value: request body must be an object")
            servable = self.registry.get(target.model, target.version)
            return 200, json.dumps(run(servable, target.method, request)).encode()
        except json.JSONDecodeError as exc:
            return 400, error_body(f"JSON Parse error: {exc}")
        except Exception as exc:
            status = status_of(exc)
            if status >= 500:
                log.exception("%s failed", target.path)
            return status, error_body(str(exc))

    async def model_status(self, model: str) -> tuple[int, bytes]:
        try:
            return 200, json.dumps(self.registry.status_json(model)).encode()
        except Exception as exc:
            return status_of(exc), error_body(str(exc))


class Upstream:
    """The binary: TF Serving's REST API on the TFS REST port, over one pooled keep-alive session."""

    def __init__(self, rest_port: int, read_timeout_s: float) -> None:
        self.base = f"http://127.0.0.1:{rest_port}"
        self.read_timeout_s = read_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.read_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=64))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def infer(self, target: Target, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        return await self._call("POST", target.path, data=body, headers=headers)

    async def model_status(self, model: str) -> tuple[int, bytes]:
        return await self._call("GET", f"/v1/models/{model}")

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        assert self._session is not None, "start() first"
        try:
            async with self._session.request(method, self.base + path, **kwargs) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 502, error_body(f"tensorflow_model_server at {self.base}: {exc or type(exc).__name__}")
