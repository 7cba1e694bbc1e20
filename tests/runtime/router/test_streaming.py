"""InvokeEndpointWithResponseStream through the real front door: boto3 reads coserve's event stream as it comes."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from tests.support import ROOT, Coserve, client_error, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
STREAMER = [sys.executable, str(ROOT / "tests" / "containers" / "streamer.py")]
EP = "stream-ep"


@pytest.fixture(scope="module")
def coserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    echo, echo_cfg = echo_container("echo")
    doc = {
        "EndpointName": EP,
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "streamer", "Image": "process"}, echo],
        "Coserve": {
            "Containers": {"streamer": {"Command": STREAMER}, "echo": echo_cfg},
            "Server": {"StreamFirstByteTimeout": "2s", "StreamChunkTimeout": "1s"},
        },
    }  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("stream"))
    yield c
    c.stop()


def stream(c: Coserve, attrs: str, host: str = "streamer", **kw: Any) -> dict[str, Any]:
    return c.client().invoke_endpoint_with_response_stream(  # type: ignore[no-any-return]
        EndpointName=EP, TargetContainerHostname=host, Body=b"{}", CustomAttributes=attrs, **kw
    )


def raw(c: Coserve, attrs: str, extra: dict[str, str] | None = None) -> tuple[dict[str, str], list[Any]]:
    """The same call unsigned over urllib (no Auth here), parsed with botocore's own event-stream parser."""
    req = urllib.request.Request(f"{c.url}/endpoints/{EP}/invocations-response-stream", data=b"{}", method="POST",
                                 headers={"X-Amzn-SageMaker-Target-Container-Hostname": "streamer",
                                          "X-Amzn-SageMaker-Custom-Attributes": attrs, **(extra or {})})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as r:
        buf = EventStreamBuffer()
        buf.add_data(r.read())
        return {k.lower(): v for k, v in r.headers.items()}, list(buf)


def test_a_stream_arrives_in_order_and_starts_before_the_container_has_finished(coserve: Coserve) -> None:
    r = stream(coserve, "parts=5,gap=0.4", Accept="text/x-tokens", ContentType="application/json")
    assert r["ContentType"] == "application/jsonlines"
    assert r["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    arrived, data = [], b""
    for event in r["Body"]:
        arrived.append(time.time())
        data += event["PayloadPart"]["Bytes"]
    lines = [json.loads(line) for line in data.splitlines()]
    assert [doc["i"] for doc in lines] == [0, 1, 2, 3, 4]
    assert arrived[0] < lines[-1]["t"] - 1.0  # the first part was read over a second before the last was written
    assert len(arrived) >= 4  # parts written 0.4 s apart come as parts, not one buffered blob
    assert {(doc["accept"], doc["content_type"]) for doc in lines} == {("text/x-tokens", "application/json")}


def test_a_chunk_over_the_part_limit_is_split_and_a_length_delimited_answer_streams_too(coserve: Coserve) -> None:
    parts = [e["PayloadPart"]["Bytes"] for e in stream(coserve, "big=600000")["Body"]]
    assert b"".join(parts) == b"x" * 600000
    assert max(len(p) for p in parts) <= 256 * 1024 and len(parts) >= 3


@pytest.mark.parametrize(("attrs", "code"), [("parts=4,break=2", "StreamBroken"),
                                             ("parts=4,stall=2", "ModelInvocationTimeExceeded"),
                                             ("parts=4,length=1", "StreamBroken")])  # fmt: skip
def test_a_stream_broken_midway_ends_with_model_stream_error(coserve: Coserve, attrs: str, code: str) -> None:
    got: list[bytes] = []
    body = stream(coserve, attrs)["Body"]
    with pytest.raises(EventStreamError) as err:
        for event in body:
            got.append(event["PayloadPart"]["Bytes"])
    body.close()  # botocore leaves the connection of a failed stream open
    assert err.value.response["Error"]["Code"] == "ModelStreamError"
    if "length" not in attrs:
        assert [json.loads(line)["i"] for line in b"".join(got).splitlines()] == [0, 1]
    _, events = raw(coserve, attrs)  # the ErrorCode, which botocore keeps out of the exception
    last = events[-1]
    assert last.headers[":message-type"] == "exception"
    assert last.headers[":exception-type"] == "ModelStreamError"
    assert json.loads(last.payload)["ErrorCode"] == code


def test_errors_before_the_first_byte_are_invoke_endpoint_s(coserve: Coserve) -> None:
    err = client_error(lambda: stream(coserve, "status=500"))
    assert err["Error"]["Code"] == "ModelError" and err["OriginalStatusCode"] == 500
    assert err["OriginalMessage"] == "failure 500"
    err = client_error(lambda: stream(coserve, "delay=3"))
    assert err["Error"]["Code"] == "ModelError" and err["OriginalStatusCode"] == 504
    err = client_error(lambda: stream(coserve, "parts=1", host="nope"))
    assert err["Error"]["Code"] == "ValidationError"
    err = client_error(lambda: stream(coserve, "parts=1", InferenceComponentName="ic-1"))
    assert err["Error"]["Code"] == "ValidationError"
    assert "Inference Component Name header is not allowed" in err["Error"]["Message"]
    err = client_error(lambda: coserve.client().invoke_endpoint_with_response_stream(EndpointName=EP, Body=b"{}"))
    assert "TargetContainerHostname" in err["Error"]["Message"]


def test_the_trace_header_says_what_is_known_at_the_first_byte(coserve: Coserve) -> None:
    headers, events = raw(coserve, "parts=2", {"X-Coserve-Trace": "1"})
    assert headers["x-coserve-trace"].startswith("streamer;status=200;ttfb_ms=")
    assert headers["x-amzn-sagemaker-content-type"] == "application/jsonlines"
    assert [json.loads(line)["i"] for line in b"".join(e.payload for e in events).splitlines()] == [0, 1]


def test_stream_metrics_are_counted(coserve: Coserve) -> None:
    for _ in stream(coserve, "parts=2")["Body"]:
        pass
    body = stream(coserve, "parts=3,break=1")["Body"]
    with pytest.raises(EventStreamError):
        for _ in body:
            pass
    body.close()

    def scrape() -> str:
        with urllib.request.urlopen(f"{coserve.url}/metrics", timeout=5) as r:
            return r.read().decode()

    def value(text: str, prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    text = wait_for(lambda: (t := scrape()) and 'code="StreamBroken"' in t and t, 10, "the broken stream counted")
    assert value(text, 'coserve_stream_bytes_total{container="streamer"') > 0
    assert value(text, 'coserve_stream_first_byte_microseconds_count{container="streamer"') >= 2
    assert value(text, 'coserve_streams_broken_total{code="StreamBroken",container="streamer"') >= 1
    assert value(text, 'coserve_invocations_total{container="streamer"') >= 2


def test_a_client_that_leaves_mid_stream_is_counted_apart_from_container_errors(coserve: Coserve) -> None:
    path = f"/endpoints/{EP}/invocations-response-stream"
    with socket.create_connection(("127.0.0.1", coserve.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                     "X-Amzn-SageMaker-Target-Container-Hostname: streamer\r\n"
                     "X-Amzn-SageMaker-Custom-Attributes: parts=100,gap=0.2\r\n\r\n{}".encode())  # fmt: skip
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")

    def scrape() -> str:
        with urllib.request.urlopen(f"{coserve.url}/metrics", timeout=5) as r:
            return r.read().decode()

    assert wait_for(lambda: 'code="ClientClosed",container="streamer"' in scrape(), 10, "ClientClosed counted")


def test_the_buffered_invoke_endpoint_still_answers_beside_streams(coserve: Coserve) -> None:
    r = coserve.client().invoke_endpoint(EndpointName=EP, TargetContainerHostname="echo", Body=b"{}")
    assert json.loads(r["Body"].read())["container"] == "echo"
    with pytest.raises(ClientError):
        stream(coserve, "parts=1", host="nope")
