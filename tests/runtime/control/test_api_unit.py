"""ControlPlane.handle on its own: what the front door gets back for requests boto3 cannot send."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from runtime.control.api import ControlPlane, accepts
from runtime.control.context import Context
from runtime.control.store import Store


def _scope(target: str | None = "SageMaker.ListModels", method: str = "POST", path: str = "/") -> dict[str, Any]:
    headers = [(b"content-type", b"application/x-amz-json-1.1")]
    if target is not None:
        headers.append((b"x-amz-target", target.encode()))
    return {"type": "http", "method": method, "path": path, "headers": headers}


def test_accepts_only_post_root_with_a_target() -> None:
    assert accepts(_scope())
    assert not accepts(_scope(target=None))
    assert not accepts(_scope(method="GET"))
    assert not accepts(_scope(path="/endpoints/x/invocations"))


def test_oversize_body_and_missing_target(store: Store) -> None:
    plane = ControlPlane(Context(store)).load()
    status, headers, body = asyncio.run(plane.handle(_scope(), None))
    assert status == 400 and json.loads(body)["__type"] == "ValidationException"
    assert (b"content-type", b"application/x-amz-json-1.1") in headers
    status, _, body = asyncio.run(plane.handle(_scope(target=None), b"{}"))
    assert (status, json.loads(body)) == (
        400,
        {"__type": "UnknownOperationException", "message": "Operation (no X-Amz-Target) is not supported by coserve."},
    )
    status, _, body = asyncio.run(plane.handle(_scope(), b""))  # an empty body is an empty input
    assert (status, json.loads(body)) == (200, {"Models": []})
