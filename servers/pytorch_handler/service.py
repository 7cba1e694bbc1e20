"""TorchServe's entry point: `handle(data, context)` for SageMaker-style PyTorch user code.

Errors: an exception in user code answers 500 (415 for a content type the defaults cannot handle)
with the exception's message as the body, and its traceback goes to the log only; the front door
turns any non-2xx into a 424 ModelError whose OriginalMessage is that body. A model that cannot
load ends the server, so the supervisor sees the container exit, backs off and gives up, rather
than TorchServe retrying the load forever behind a readiness probe that never passes.
"""

from __future__ import annotations

import logging
import os
import signal
from http import HTTPStatus
from pathlib import Path
from typing import Any

from servers.pytorch_handler import SERVER_PID_ENV, formats
from servers.pytorch_handler.user_code import Pipeline, load_module

log = logging.getLogger("servers.pytorch_handler")
_pipeline: Pipeline | None = None


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[Any] | None:
    global _pipeline
    if _pipeline is None:  # TorchServe's first call, handle(None, context), loads the model
        _pipeline = _load(Path(os.environ.get("COSERVE_MODEL_DIR") or context.system_properties["model_dir"]))
    if data is None:
        return None
    return [_answer(_pipeline, request, context, idx) for idx, request in enumerate(data)]


def _load(model_dir: Path) -> Pipeline:
    try:
        pipeline = Pipeline(load_module(model_dir, os.environ))
        pipeline.load(model_dir)
    except Exception as exc:
        log.exception("coserve: the model in %s cannot load: %s", model_dir, exc)
        _stop_server()
        raise
    log.info("coserve: model loaded from %s", model_dir)
    logging.getLogger().addFilter(_not_per_request)
    return pipeline


def _not_per_request(record: logging.LogRecord) -> bool:
    # TorchServe's worker logs an INFO line per request: at a thousand a second, that is the whole log.
    return record.levelno >= logging.WARNING or record.module != "otf_message_handler"


def _stop_server() -> None:
    pid = os.environ.get(SERVER_PID_ENV)
    if pid:
        os.kill(int(pid), signal.SIGTERM)


def _answer(pipeline: Pipeline, request: dict[str, Any], context: Any, idx: int) -> Any:
    body = request.get("body")
    body = request.get("data", b"") if body is None else body
    content_type = _header(context, idx, "content-type") or formats.JSON
    accept = _header(context, idx, "accept")
    if not accept or accept.strip() == "*/*":
        accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", formats.JSON)
    if isinstance(body, bytes | bytearray) and formats.media_type(content_type) in formats.TEXT_TYPES:
        body = bytes(body).decode("utf-8")
    try:
        result, result_type = pipeline.transform(body, content_type, accept)
    except formats.UnsupportedFormatError as exc:
        return _failed(context, idx, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, exc)
    except Exception as exc:
        log.exception("coserve: user code failed")
        return _failed(context, idx, HTTPStatus.INTERNAL_SERVER_ERROR, exc)
    context.set_response_content_type(idx, result_type)
    return result


def _failed(context: Any, idx: int, status: HTTPStatus, exc: Exception) -> str:
    context.set_response_status(status.value, status.phrase, idx)
    context.set_response_content_type(idx, "text/plain")
    return str(exc) or type(exc).__name__  # the message only: tracebacks stay in the log


def _header(context: Any, idx: int, name: str) -> str | None:
    headers = context.get_all_request_header(idx) or {}
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None
