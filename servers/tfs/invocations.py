"""`/ping` and `/invocations` as SageMaker's TF container answers them, over either backend."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from servers.tfs.backend import Backend
from servers.tfs.errors import TfsError, error_body
from servers.tfs.handlers import Context, UserHandlers
from servers.tfs.sagemaker import Target, custom_attributes, reply_type, target_of, to_tfs_request

log = logging.getLogger("servers.tfs.invocations")
CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"


class SageMakerFront:
    def __init__(self, backend: Backend, default_model: str, ports: tuple[int, int], ready: Callable[[], bool]) -> None:
        self.backend = backend
        self.default_model = default_model
        self.grpc_port, self.rest_port = ports
        self.ready = ready  # startup finished (models loaded, user code imported)
        self.user: UserHandlers | None = None
        self._channel: Any = None

    async def ping(self, request: Request) -> Response:
        # njs's rule: 200 only when TFS reports the default model, every version AVAILABLE; else 502.
        if not self.ready():
            return Response(status_code=502)
        status, body = await self.backend.model_status(self.default_model)
        return Response(status_code=200 if status == 200 and b'"AVAILABLE"' in body else 502)

    async def invocations(self, request: Request) -> Response:
        headers = request.headers
        body = await request.body()
        try:
            target = target_of(custom_attributes(headers.get(CUSTOM_ATTRIBUTES)), self.default_model)
            if self.user is not None:
                return await self._user_code(self.user, body, target, request)
            tfs_request = to_tfs_request(headers.get("content-type"), body)
        except TfsError as exc:
            return Response(exc.body(), exc.status, media_type="application/json")
        status, answer = await self.backend.infer(target, tfs_request)
        content_type = reply_type(headers.get("accept"))
        if content_type is not None:
            answer = answer.replace(b"\n", b"")  # tensorflow_model_server pretty-prints
        return Response(answer, status, media_type=content_type or "application/json")

    async def _user_code(self, user: UserHandlers, body: bytes, target: Target, request: Request) -> Response:
        try:
            content, content_type = await user.run(body, target, self._context(target, request, len(body)))
        except Exception as exc:
            log.exception("inference.py failed")
            return Response(error_body(str(exc)), 500, media_type="application/json")
        return Response(content, 200, media_type=content_type)

    def _context(self, target: Target, request: Request, length: int) -> Context:
        h = request.headers
        return Context(
            model_name=target.model, model_version=None if target.version is None else str(target.version),
            method=target.method, rest_uri=f"http://localhost:{self.rest_port}{target.path}",
            grpc_port=self.grpc_port, channel=self._grpc_channel(), custom_attributes=h.get(CUSTOM_ATTRIBUTES),
            request_content_type=h.get("content-type") or "application/json",
            accept_header=h.get("accept") or "application/json", content_length=length,
        )  # fmt: skip

    def _grpc_channel(self) -> Any:
        if self._channel is None:
            import grpc  # type: ignore[import-untyped]  # only handlers that use the channel pay for it

            self._channel = grpc.insecure_channel(f"localhost:{self.grpc_port}")
        return self._channel
