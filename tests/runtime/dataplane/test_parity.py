"""The two data planes answer alike: the same requests to a coserve with `DataPlane: python` and one with `haproxy`
(same deployment, real containers, real HAProxy), compared as botocore parses the answers, then their metrics."""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.leftovers import lifecycle
from tests.runtime.metrics.scrape import scrape, value
from tests.runtime.router.hostile.frontdoor import exchange, read_answer
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
ENDPOINT = "Parity-ep"
SETTINGS = {"InvocationTimeout": "2s", "MaxResponse": 3000, "MaxPayload": 5000, "MaxInFlight": 4}
PLANES = ("python", "haproxy")


def deployment(plane: str) -> dict[str, Any]:
    a, a_cfg = echo_container("a")
    b, b_cfg = echo_container("b", ECHO_MODE="unready")  # never RUNNING: its requests go to Python either way
    return {"EndpointName": ENDPOINT, "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [a, b],
            "Coserve": {"Containers": {"a": a_cfg, "b": b_cfg},
                        "Server": {**SETTINGS, "DataPlane": plane}}}  # fmt: skip


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Coserve]]:
    started: dict[str, Coserve] = {}
    try:
        for plane in PLANES:
            c = start_coserve(deployment(plane), tmp_path_factory.mktemp(plane), wait_ready=False)
            started[plane] = c
            restarted(c, 0)  # RUNNING, and (haproxy) in HAProxy's map: until then Python serves it
        yield started
    finally:
        for c in started.values():
            c.stop()


def normalized(c: Coserve, thing: Any) -> Any:
    """Process-specific parts out: the work directory in paths, the echo's pid."""
    text = json.dumps(thing, sort_keys=True, default=str).replace(str(c.workdir), "<workdir>")
    # Python words its timeout with the time left of the deadline (1.99999s for 2s), HAProxy with the setting.
    text = re.sub(r"no response within [0-9.]+s", "no response within <timeout>", text)
    doc = json.loads(text)
    if isinstance(doc, dict) and isinstance(doc.get("Body"), dict):
        doc["Body"].pop("pid", None)
    return doc


def answer(c: Coserve, **kwargs: Any) -> Any:
    """What botocore gives back: the parsed answer (body decoded) or the parsed error."""
    name = kwargs.pop("name", ENDPOINT)
    client = c.client(fresh=kwargs.pop("fresh", False))
    try:
        out = client.invoke_endpoint(EndpointName=name, **kwargs)
    except ClientError as exc:  # only its parsed response is kept: no traceback holds a pooled connection
        error = exc.response
        fields = {k: v for k, v in error.items() if k not in ("Error", "ResponseMetadata")}
        return normalized(c, {"Error": error["Error"], "Status": error["ResponseMetadata"]["HTTPStatusCode"], **fields})
    body = out["Body"].read()
    parsed = {k: v for k, v in out.items() if k not in ("Body", "ResponseMetadata")}
    return normalized(c, {**parsed, "Body": json.loads(body) if body.startswith(b"{") else body.decode()})


CASES: dict[str, dict[str, Any]] = {
    "ok": {
        "Body": b'{"x": 1}',
        "ContentType": "text/csv; charset=utf-8",
        "Accept": "application/x-npy",
        "CustomAttributes": "k=v",
        "TargetContainerHostname": "a",
    },
    "endpoint name in another case": {"name": ENDPOINT.upper(), "Body": b"1", "TargetContainerHostname": "a"},
    "other endpoint": {"name": "nope", "Body": b"1", "TargetContainerHostname": "a"},
    "client error answer": {"Body": b"1", "CustomAttributes": "status=404", "TargetContainerHostname": "a"},
    "server error answer": {"Body": b"1", "CustomAttributes": "status=503", "TargetContainerHostname": "a"},
    "answer over MaxResponse": {"Body": b"1", "CustomAttributes": "big=5000", "TargetContainerHostname": "a"},
    "timeout": {"Body": b"1", "CustomAttributes": "sleep=3", "TargetContainerHostname": "a"},
    "unknown target": {"Body": b"1", "TargetContainerHostname": "zz"},
    "target in another case": {"Body": b"1", "TargetContainerHostname": "A"},
    "no target": {"Body": b"1"},
    "target not running": {"Body": b"1", "TargetContainerHostname": "b"},
    "payload over MaxPayload": {"Body": b"x" * 6000, "TargetContainerHostname": "a"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_botocore_sees_the_same_answer(doors: dict[str, Coserve], case: str) -> None:
    seen = {plane: answer(c, **dict(CASES[case])) for plane, c in doors.items()}
    assert seen["haproxy"] == seen["python"]


def restarted(c: Coserve, exits: int) -> None:
    """Wait until container a has exited `exits` times in all, is RUNNING again and back in HAProxy's map."""

    def back() -> bool:
        lines = lifecycle(c, "a")
        return bool(lines) and sum("-> EXITED" in line for line in lines) >= exits and "-> RUNNING" in lines[-1]

    wait_for(back, 20, "container a to be restarted")
    routes = c.workdir / "run" / "dataplane" / "routes.map"  # written once HAProxy's map has it
    wait_for(lambda: not routes.parent.exists() or f"{ENDPOINT.lower()}/a" in routes.read_text(), 10, "the map")


def exits(c: Coserve) -> int:
    return sum("-> EXITED" in line for line in lifecycle(c, "a"))


def test_a_reset_is_the_same_model_error_on_a_new_connection(doors: dict[str, Coserve]) -> None:
    seen = {}
    for plane, c in doors.items():
        before = exits(c)
        seen[plane] = answer(c, Body=b"1", CustomAttributes="reset=1", TargetContainerHostname="a", fresh=True)
        restarted(c, before + 1)
    assert seen["haproxy"] == seen["python"]
    assert seen["python"]["Error"]["Code"] == "ModelError"


def test_a_reset_on_a_kept_alive_connection_is_closed_by_haproxy(doors: dict[str, Coserve]) -> None:
    """HAProxy's rule (README): a server that closes without answering a client's second or later request on its
    connection gets that connection closed, no answer; Python answers the ModelError."""
    ok = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nX-Amzn-SageMaker-Target-Container-Hostname: a\r\n"
          b"Content-Length: 1\r\n\r\n1")  # fmt: skip
    crash = ok.replace(b"Content-Length", b"X-Amzn-SageMaker-Custom-Attributes: reset=1\r\nContent-Length")
    seen = {}
    for plane, c in doors.items():
        before = exits(c)
        with socket.create_connection(("127.0.0.1", c.port), timeout=10) as s:
            s.sendall(ok)
            assert read_answer(s)[0] == 200
            s.sendall(crash)
            try:
                seen[plane] = read_answer(s)[0]
            except ConnectionError:
                seen[plane] = "closed without an answer"
        restarted(c, before + 1)
    assert seen == {"python": 424, "haproxy": "closed without an answer"}


@pytest.mark.parametrize("path", ["/invocations", f"/endpoints/{ENDPOINT.lower()}/invocations"])
@pytest.mark.parametrize("trace", [False, True])
def test_raw_paths_and_the_trace_header(doors: dict[str, Coserve], path: str, trace: bool) -> None:
    extra = "X-Coserve-Trace: 1\r\n" if trace else ""
    request = (f"POST {path}?q=1 HTTP/1.1\r\nHost: x\r\nX-Amzn-SageMaker-Target-Container-Hostname: a\r\n"
               f"Content-Type: application/json\r\nContent-Length: 2\r\n{extra}\r\n{{}}").encode()  # fmt: skip
    seen = {}
    for plane, c in doors.items():
        status, headers, body = exchange(c.port, request)
        kept = {k: v for k, v in headers.items() if k.startswith("x-amzn") or k == "content-type"}
        doc = json.loads(body)
        doc.pop("pid", None)
        seen[plane] = (status, kept, doc, "x-coserve-trace" in headers)
    assert seen["haproxy"] == seen["python"]
    assert seen["python"][3] is trace


def test_metrics_count_what_haproxy_relayed(doors: dict[str, Coserve]) -> None:
    """Run after the cases above (pytest keeps file order): both planes counted the same invocations."""
    names = ("coserve_invocations_total", "coserve_invocation_4xx_errors_total", "coserve_invocation_5xx_errors_total")

    def counts(c: Coserve) -> dict[tuple[str, str], float | None]:
        samples = scrape(c.url)
        return {(n, h): value(samples, n, container=h) for n in names for h in ("", "a", "b")}

    python = counts(doors["python"])
    assert python[("coserve_invocations_total", "a")]  # the cases above reached container a
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: counts(doors["haproxy"]) == python, 10, "HAProxy's counts folded into /metrics")
    assert counts(doors["haproxy"]) == python
    # HAProxy relayed: only the requests Python sent on (the trace header's) have a ContainerLatency sample there.
    latency = {p: value(scrape(c.url), "coserve_container_latency_microseconds_count", container="a")
               for p, c in doors.items()}  # fmt: skip
    assert latency["haproxy"] == 2 and latency["python"] == python[("coserve_invocations_total", "a")]


def test_files_stay_in_the_run_directory(doors: dict[str, Coserve]) -> None:
    folder = Path(doors["haproxy"].workdir) / "run" / "dataplane"
    assert (folder / "haproxy.cfg").exists() and (folder / "routes.map").read_text().split() == [
        f"{ENDPOINT.lower()}/a", "c0"]  # fmt: skip
