"""The same front-door limits and signed pages with `Workers: 2` (gunicorn, runtime/frontdoor/gworker.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.runtime.router.hostile.frontdoor import botocore_error, containers, exchange, read_answer, served, signed
from tests.support import Coserve, free_port, start_coserve

pytestmark = pytest.mark.integration
ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
STATUS_PORT = free_port()


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    entries, settings = containers()
    server = {"Workers": 2, "HeaderTimeout": "1s", "StatusListen": f"127.0.0.1:{STATUS_PORT}"}
    auth = {"Principals": [{"AccessKeyId": "AKIDTEST", "SecretAccessKeyEnv": "T_SECRET", "Policies": [ALL]}]}
    doc = {"EndpointName": "hostile-workers", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": entries,
           "Coserve": {"Containers": settings, "Server": server, "Auth": auth}}  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("workers"), env={"T_SECRET": "secret"})
    yield c
    c.stop()


def test_workers_refuse_a_huge_head_and_time_out_a_slow_one(door: Coserve) -> None:
    big = b"POST /invocations HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20 + b"\r\n\r\n"
    status, headers, body = exchange(door.port, big)
    assert (status, botocore_error(status, headers, body)["Code"]) == (431, "RequestHeaderFieldsTooLarge")
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\n")
        status, headers, body = read_answer(s)
    assert (status, botocore_error(status, headers, body)["Code"]) == (408, "RequestTimeout")
    served(door)


def test_workers_sign_pages_and_the_listener_serves_them(door: Coserve) -> None:
    status, headers, body = exchange(door.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, botocore_error(status, headers, body)["Code"]) == (403, "MissingAuthenticationTokenException")
    head, _ = signed(door, b"", path="/metrics", method="GET")
    assert exchange(door.port, head)[0] == 200
    served(door)
    status, _, body = exchange(STATUS_PORT, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200
    assert b'coserve_invocations_total{container="echo"' in body  # the workers' counts, read from their files
