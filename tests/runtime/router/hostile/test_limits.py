"""One client must not freeze the front door: header size and count, slow heads and bodies, idle and surplus
connections, and requests in flight per container. Real front door, real containers, raw sockets."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.router.hostile.frontdoor import (
    botocore_error,
    closed_by_peer,
    containers,
    exchange,
    invoke_raw,
    read_answer,
    rss,
    served,
)
from tests.support import Coserve, start_coserve, wait_for

pytestmark = pytest.mark.integration
MIB = 2**20
LIMITS = {"HeaderTimeout": "1s", "BodyTimeout": "1s", "KeepAlive": "1s", "MaxConnections": 30, "MaxInFlight": 2}


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    entries, settings = containers()
    doc = {"EndpointName": "hostile-limits", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": entries,
           "Coserve": {"Containers": settings, "Server": dict(LIMITS)}}  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("limits"))
    yield c
    c.stop()


def head(extra: str = "", length: int = 2) -> bytes:
    return (
        "POST /endpoints/hostile-limits/invocations HTTP/1.1\r\nHost: x\r\n"
        f"X-Amzn-SageMaker-Target-Container-Hostname: echo\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def test_a_huge_header_is_431_and_never_stalls_anyone(door: Coserve) -> None:
    baseline = rss(door)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(exchange, door.port, head(f"X-Big: {'a' * 8 * MIB}\r\n") + b"{}")
        for _ in range(5):
            served(door, bound_s=2.0)
        status, headers, body = pending.result()
    assert status == 431
    assert botocore_error(status, headers, body)["Code"] == "RequestHeaderFieldsTooLarge"
    assert rss(door) < baseline + 30 * MIB


def test_too_many_headers_is_431(door: Coserve) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(150))
    status, headers, body = exchange(door.port, head(many) + b"{}")
    assert status == 431
    error = botocore_error(status, headers, body)
    assert error["Code"] == "RequestHeaderFieldsTooLarge"
    assert "MaxHeaders" in error["Message"]
    served(door)


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_request_only_partly_sent_is_408(door: Coserve, part: str) -> None:
    sent = b"POST /invocations HTTP/1.1\r\nHost: x\r\n" if part == "head" else head(length=100) + b"0123456789"
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as s:
        s.sendall(sent)
        started = time.monotonic()
        served(door)  # meanwhile
        status, headers, body = read_answer(s)
        waited = time.monotonic() - started
    assert status == 408
    error = botocore_error(status, headers, body)
    assert error["Code"] == "RequestTimeout"
    assert ("HeaderTimeout" if part == "head" else "BodyTimeout") in error["Message"]
    assert waited < 5


@pytest.mark.parametrize("used", [False, True])
def test_idle_connections_are_closed(door: Coserve, used: bool) -> None:
    """A connection that never sends, and a keep-alive one after its answer, are closed within seconds."""
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as s:
        if used:
            s.sendall(head() + b"{}")
            assert read_answer(s)[0] == 200
        assert closed_by_peer(s, 5)


def test_connections_past_max_connections_get_503_then_others_are_served(door: Coserve) -> None:
    held = [socket.create_connection(("127.0.0.1", door.port), timeout=10) for _ in range(LIMITS["MaxConnections"])]
    try:
        with socket.create_connection(("127.0.0.1", door.port), timeout=10) as extra:
            extra.sendall(head() + b"{}")
            status, headers, body = read_answer(extra)
        assert status == 503
        assert botocore_error(status, headers, body)["Code"] == "ServiceUnavailable"
    finally:
        for s in held:
            s.close()
    # The front door learns of those closes asynchronously: a new client gets in as soon as it has.
    wait_for(lambda: invoke_raw(door, "", b"{}", "echo")[0] == 200, 5, "a connection slot to come free")
    served(door)


def test_requests_past_max_in_flight_get_503_and_other_containers_are_served(door: Coserve) -> None:
    with ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(invoke_raw, door, "sleep=2", b"{}", "echo") for _ in range(4)]
        started = time.monotonic()
        while time.monotonic() - started < 1.5:  # the other container is not held up by echo's queue
            status, _ = invoke_raw(door, "", b"{}", "bad")
            assert status == 200
        results = [f.result() for f in slow]
    assert sorted(r[0] for r in results) == [200, 200, 503, 503]
    assert {r[1]["Code"] for r in results if r[0] == 503} == {"ServiceUnavailable"}


def test_twenty_parked_uploads_hold_little_memory(door: Coserve) -> None:
    """The issue's case: connections parked mid-header held 336 MB. Each now holds at most MaxHeaderSize."""
    baseline = rss(door)
    stop = threading.Event()

    def park() -> None:
        with socket.create_connection(("127.0.0.1", door.port), timeout=10) as s:
            with contextlib.suppress(OSError):  # refused at the limit: what this test wants
                s.sendall(b"POST /invocations HTTP/1.1\r\nX-Slow: " + b"a" * 8 * MIB)
            stop.wait(3)

    threads = [threading.Thread(target=park) for _ in range(20)]
    for t in threads:
        t.start()
    try:
        served(door)
        assert rss(door) < baseline + 40 * MIB
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_a_declared_body_over_max_payload_is_refused_before_it_is_sent(door: Coserve) -> None:
    with socket.create_connection(("127.0.0.1", door.port), timeout=5) as s:
        s.sendall(head(length=100 * MIB) + b"x" * 1000)
        status, headers, body = read_answer(s)
        assert status == 400
        assert botocore_error(status, headers, body)["Code"] == "ValidationError"
        assert closed_by_peer(s, 5)  # the rest of that body is not waited for on a kept connection
    served(door)


def test_pipelined_requests_are_answered_in_order(door: Coserve) -> None:
    one = head() + b"{}"
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as s:
        s.sendall(one + one)
        assert read_answer(s)[0] == 200
        assert read_answer(s)[0] == 200


def test_a_slow_pipelined_head_waits_for_the_answer_before_it_and_then_gets_408(door: Coserve) -> None:
    """The head of a second, pipelined request stalls while the first is answered (2 s, past HeaderTimeout):
    the first answer comes back whole, then the 408, never one inside the other."""
    slow = head("X-Amzn-SageMaker-Custom-Attributes: sleep=2\r\n") + b"{}"
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as s:
        s.sendall(slow + b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        first = read_answer(s)
        second = read_answer(s)
    assert first[0] == 200
    assert b'"custom_attributes": "sleep=2"' in first[2]
    assert (second[0], botocore_error(*second)["Code"]) == (408, "RequestTimeout")
