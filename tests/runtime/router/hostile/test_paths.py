"""Paths and methods outside InvokeEndpoint answer in SageMaker's error shape; an empty endpoint name in the
path is an error, not the served endpoint. Real front door, raw HTTP, errors parsed by botocore."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.router.hostile.frontdoor import botocore_error, containers, exchange, served
from tests.support import Coserve, start_coserve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    entries, settings = containers()
    doc = {"EndpointName": "hostile-paths", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": entries,
           "Coserve": {"Containers": settings}}  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("paths"))
    yield c
    c.stop()


def request(method: str, path: str, body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Amzn-SageMaker-Target-Container-Hostname: echo\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nothing-here", 404), ("POST", "/endpoints/hostile-paths/invocations/x", 404),
     ("GET", "/endpoints/hostile-paths/invocations", 405), ("POST", "/ping", 405), ("DELETE", "/metrics", 405)],
)  # fmt: skip
def test_other_paths_and_methods_answer_in_sagemakers_shape(door: Coserve, method: str, path: str, status: int) -> None:
    got, headers, body = exchange(door.port, request(method, path))
    assert got == status
    assert headers["content-type"] == "application/json"
    assert botocore_error(got, headers, body)["Code"] == "UnknownOperationException"
    served(door)


def test_an_empty_endpoint_name_is_a_validation_error(door: Coserve) -> None:
    status, headers, body = exchange(door.port, request("POST", "/endpoints//invocations", b"{}"))
    assert status == 400
    error = botocore_error(status, headers, body)
    assert error["Code"] == "ValidationError"
    assert "endpointName" in error["Message"]
