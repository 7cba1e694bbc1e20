"""The user's pre/post-processing: `code/inference.py` in the model dir, as SageMaker's TF container runs it.

Either `handler(data, context)` does everything (it may call `context.rest_uri` itself), or
`input_handler(data, context)` makes the TFS request body and `output_handler(response, context)` turns
TF Serving's answer into `(body, content_type)`. `data` is a readable stream of the request body; `response`
has the `requests.Response` members handlers use (status_code, content, text, json()).
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from starlette.concurrency import run_in_threadpool

from servers.tfs.backend import Backend
from servers.tfs.sagemaker import Target


class Context(NamedTuple):
    model_name: str
    model_version: str | None
    method: str
    rest_uri: str
    grpc_port: int
    channel: Any  # a grpc channel to the TFS gRPC port, made on first use
    custom_attributes: str | None
    request_content_type: str
    accept_header: str
    content_length: int


class TfsResponse:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class UserCode:
    handler: Callable[..., Any] | None
    input_handler: Callable[..., Any] | None
    output_handler: Callable[..., Any] | None


def load_user_code(model_dir: Path) -> UserCode | None:
    """Import code/inference.py (code/ and code/lib on sys.path); None when the artifact has none."""
    code = model_dir / "code"
    script = code / "inference.py"
    if not script.is_file():
        return None
    for folder in (code / "lib", code):
        if folder.is_dir():
            sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("inference", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["inference"] = module
    spec.loader.exec_module(module)
    found = UserCode(*(getattr(module, n, None) for n in ("handler", "input_handler", "output_handler")))
    if found.handler is None and (found.input_handler is None or found.output_handler is None):
        raise ValueError(f"{script}: define handler(data, context), or input_handler and output_handler")
    return found


class UserHandlers:
    def __init__(self, code: UserCode, backend: Backend) -> None:
        self.code = code
        self.backend = backend

    async def run(self, body: bytes, target: Target, context: Context) -> tuple[bytes, str]:
        """The reply body and content type; whatever the user's code raises propagates."""
        if self.code.handler is not None:
            reply = await run_in_threadpool(self.code.handler, io.BytesIO(body), context)
        else:
            assert self.code.input_handler is not None and self.code.output_handler is not None
            request = await run_in_threadpool(self.code.input_handler, io.BytesIO(body), context)
            status, answer = await self.backend.infer(target, _as_bytes(request))
            reply = await run_in_threadpool(self.code.output_handler, TfsResponse(status, answer), context)
        content, content_type = reply
        return _as_bytes(content), str(content_type)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()  # a dict or list: what requests.post(json=...) would have sent
