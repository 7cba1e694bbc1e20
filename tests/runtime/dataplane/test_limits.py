"""The front door's limits answer alike on both data planes: the same hostile request to a coserve with
`DataPlane: python` and one with `haproxy`, the answers compared as botocore parses them. Raw sockets, real HAProxy."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.runtime.metrics.scrape import scrape, value
from tests.runtime.router.hostile.frontdoor import botocore_error, exchange, read_answer
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
LIMITS = {"HeaderTimeout": "1s", "BodyTimeout": "1s", "KeepAlive": "1s", "MaxConnections": 6, "MaxInFlight": 1,
          "MaxHeaders": 20, "MaxHeaderSize": "2KiB"}  # fmt: skip


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Coserve]]:
    started: dict[str, Coserve] = {}
    try:
        for plane in ("python", "haproxy"):
            echo, cfg = echo_container("echo")
            doc = {"EndpointName": "limits", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [echo],
                   "Coserve": {"Containers": {"echo": cfg}, "Server": {**LIMITS, "DataPlane": plane}}}  # fmt: skip
            started[plane] = start_coserve(doc, tmp_path_factory.mktemp(plane))
        yield started
    finally:
        for c in started.values():
            c.stop()


def head(extra: str = "", length: int = 2) -> bytes:
    return (
        "POST /endpoints/limits/invocations HTTP/1.1\r\nHost: x\r\n"
        f"X-Amzn-SageMaker-Target-Container-Hostname: echo\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def parsed(answer: tuple[int, dict[str, str], bytes]) -> dict[str, Any]:
    status, headers, body = answer
    return {"status": status, **botocore_error(status, headers, body)}


def same(doors: dict[str, Coserve], request: bytes) -> dict[str, Any]:
    seen = {plane: parsed(exchange(c.port, request)) for plane, c in doors.items()}
    assert seen["haproxy"] == seen["python"]
    return seen["python"]


def test_a_large_head_is_431(doors: dict[str, Coserve]) -> None:
    assert same(doors, head(f"X-Big: {'a' * 4096}\r\n") + b"{}")["Code"] == "RequestHeaderFieldsTooLarge"


def test_too_many_headers_is_431(doors: dict[str, Coserve]) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(30))
    assert "MaxHeaders" in same(doors, head(many) + b"{}")["Message"]


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_request_only_partly_sent_is_408(doors: dict[str, Coserve], part: str) -> None:
    sent = b"POST /invocations HTTP/1.1\r\nHost: x\r\n" if part == "head" else head(length=100) + b"0123456789"
    seen = {}
    for plane, c in doors.items():
        with socket.create_connection(("127.0.0.1", c.port), timeout=10) as s:
            s.sendall(sent)
            seen[plane] = parsed(read_answer(s))
    assert seen["python"]["status"] == seen["haproxy"]["status"] == 408 and part in seen["python"]["Message"]
    if part == "body":
        assert seen["haproxy"] == seen["python"]
    else:  # HAProxy 2.6 answers a head it timed out with its own 408 page, whatever the errorfiles (README)
        assert seen["haproxy"]["Code"] == "408"


def test_a_head_past_haproxys_buffer_is_400(doors: dict[str, Coserve]) -> None:
    """Past MaxHeaderSize + 64 KiB HAProxy's buffer is full: it refuses the request itself (README)."""
    request = head(f"X-Big: {'a' * 200_000}\r\n") + b"{}"
    assert parsed(exchange(doors["python"].port, request))["status"] == 431
    assert parsed(exchange(doors["haproxy"].port, request))["status"] == 400


def test_a_connection_past_max_connections_is_503(doors: dict[str, Coserve]) -> None:
    seen = {}
    for plane, c in doors.items():
        held = [socket.create_connection(("127.0.0.1", c.port), timeout=10) for _ in range(6)]
        try:
            seen[plane] = parsed(exchange(c.port, head() + b"{}"))
        finally:
            for s in held:
                s.close()
    assert seen["haproxy"] == seen["python"]
    assert seen["python"]["Code"] == "ServiceUnavailable" and "MaxConnections" in seen["python"]["Message"]


def test_a_container_at_max_in_flight_is_503(doors: dict[str, Coserve]) -> None:
    seen = {}
    slow = head("X-Amzn-SageMaker-Custom-Attributes: sleep=2\r\n") + b"{}"
    for plane, c in doors.items():
        log_size = c.log.stat().st_size
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(exchange, c.port, slow)
            wait_for(lambda: b"echo: sleeping" in c.log.read_bytes()[log_size:], 10, "the slow request")  # noqa: B023
            seen[plane] = parsed(exchange(c.port, head() + b"{}"))
            assert pending.result()[0] == 200
    assert seen["haproxy"] == seen["python"]
    assert "MaxInFlight" in seen["python"]["Message"]


def test_requests_within_the_limits_are_served(doors: dict[str, Coserve]) -> None:
    for c in doors.values():
        assert exchange(c.port, head("Content-Type: application/json\r\n") + b"{}")[0] == 200


def test_both_planes_counted_the_same(doors: dict[str, Coserve]) -> None:
    """Run last (file order): refusals at MaxInFlight count under the variant on both, the rest alike."""
    names = ("coserve_invocations_total", "coserve_invocation_4xx_errors_total", "coserve_invocation_5xx_errors_total")

    def counts(c: Coserve) -> dict[tuple[str, str], float | None]:
        samples = scrape(c.url)
        return {(n, h): value(samples, n, container=h) for n in names for h in ("", "echo")}

    python = counts(doors["python"])
    assert python[("coserve_invocation_5xx_errors_total", "")] == 1  # the MaxInFlight refusal
    # The one difference (README): Python's router also counted the body that missed BodyTimeout, as a 4XX.
    python[("coserve_invocations_total", "")] -= 1  # type: ignore[operator]
    python[("coserve_invocation_4xx_errors_total", "")] -= 1  # type: ignore[operator]
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: counts(doors["haproxy"]) == python, 10, "HAProxy's counts folded into /metrics")
    assert counts(doors["haproxy"]) == python
