"""Response streaming beside the rest of the front door: auth, MaxInFlight, a client that leaves, Serial, workers."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.eventstream import EventStreamBuffer

from tests.support import ROOT, Coserve, client_error, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
STREAMER = [sys.executable, str(ROOT / "tests" / "containers" / "streamer.py")]
ALLOW_STREAMER = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"], "Resource": "*",
    "Condition": {"StringEquals": {"sagemaker:TargetContainerHostname": "streamer"}},
}]}  # fmt: skip


def direct(name: str, **server: object) -> dict[str, object]:
    echo, echo_cfg = echo_container("echo")
    return {
        "EndpointName": name,
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "streamer", "Image": "process"}, echo],
        "Coserve": {"Containers": {"streamer": {"Command": STREAMER}, "echo": echo_cfg}, "Server": server},
    }


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("stream-auth")
    (work / "team.secret").write_text("team-secret\n")
    doc = direct("guarded-ep", MaxInFlight=1)
    doc["Coserve"]["Auth"] = {  # type: ignore[index]
        "AccountId": "123456789012",
        "Principals": [{"AccessKeyId": "AKIDTEAM", "SecretAccessKeyFile": "team.secret", "Policies": [ALLOW_STREAMER]}],
    }
    c = start_coserve(doc, work)
    yield c
    c.stop()


def words(c: Coserve, key: str, secret: str, host: str, attrs: str = "parts=2") -> list[int]:
    r = c.client(key=key, secret=secret).invoke_endpoint_with_response_stream(
        EndpointName=c.endpoint, TargetContainerHostname=host, Body=b"{}", CustomAttributes=attrs
    )
    return [json.loads(line)["i"] for line in b"".join(e["PayloadPart"]["Bytes"] for e in r["Body"]).splitlines()]


def test_a_signed_stream_is_allowed_by_the_invoke_endpoint_action(guarded: Coserve) -> None:
    assert words(guarded, "AKIDTEAM", "team-secret", "streamer") == [0, 1]


def test_a_stream_the_policy_does_not_allow_or_badly_signed_is_refused(guarded: Coserve) -> None:
    err = client_error(lambda: words(guarded, "AKIDTEAM", "team-secret", "echo"))
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert "sagemaker:InvokeEndpoint" in err["Error"]["Message"]
    err = client_error(lambda: words(guarded, "AKIDTEAM", "wrong", "streamer"))
    assert err["Error"]["Code"] == "InvalidSignatureException"
    err = client_error(lambda: words(guarded, "AKIDNOBODY", "x", "streamer"))
    assert err["Error"]["Code"] == "UnrecognizedClientException"


def open_raw(c: Coserve, attrs: str) -> socket.socket:
    """A stream request signed with botocore's signer, sent on a socket the test controls (and may close)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{c.url}/endpoints/{c.endpoint}/invocations-response-stream"
    req = AWSRequest("POST", url, data=b"{}", headers={"X-Amzn-SageMaker-Target-Container-Hostname": "streamer",
                                                        "X-Amzn-SageMaker-Custom-Attributes": attrs})  # fmt: skip
    SigV4Auth(Credentials("AKIDTEAM", "team-secret"), "sagemaker", "us-east-1").add_auth(req)
    head = "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
    sock = socket.create_connection(("127.0.0.1", c.port), timeout=10)
    path = f"/endpoints/{c.endpoint}/invocations-response-stream"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{c.port}\r\nContent-Length: 2\r\n{head}\r\n{{}}".encode())
    return sock


def test_a_stream_holds_its_max_in_flight_place_until_a_client_that_leaves_frees_it(guarded: Coserve) -> None:
    sock = open_raw(guarded, "parts=100,gap=0.2")
    assert b" 200 " in sock.recv(4096).split(b"\r\n", 1)[0]  # the stream has started: it holds the one place
    err = client_error(lambda: words(guarded, "AKIDTEAM", "team-secret", "streamer"))
    assert err["Error"]["Code"] == "ServiceUnavailable" and "MaxInFlight" in err["Error"]["Message"]
    sock.close()  # the client leaves mid-stream: coserve ends the container's request and frees the place
    assert wait_for(lambda: _try(guarded), 10, "the place freed") == [0, 1]
    assert "Traceback" not in guarded.log.read_text()


def _try(c: Coserve) -> list[int] | None:
    try:
        return words(c, "AKIDTEAM", "team-secret", "streamer")
    except Exception:
        return None


def test_a_serial_pipeline_streams_its_last_container(tmp_path: Path) -> None:
    echo, echo_cfg = echo_container("echo")
    doc = {
        "EndpointName": "serial-stream-ep",
        "Containers": [echo, {"ContainerHostname": "streamer", "Image": "process"}],
        "Coserve": {"Containers": {"streamer": {"Command": STREAMER}, "echo": echo_cfg}},
    }
    c = start_coserve(doc, tmp_path)
    try:
        r = c.client().invoke_endpoint_with_response_stream(
            EndpointName=c.endpoint, Body=b"{}", ContentType="text/csv", Accept="text/x-final",
            CustomAttributes="parts=3",
        )  # fmt: skip
        lines = [json.loads(x) for x in b"".join(e["PayloadPart"]["Bytes"] for e in r["Body"]).splitlines()]
        assert [doc["i"] for doc in lines] == [0, 1, 2]
        # The last container got the first one's answer type, and the client's Accept.
        assert {(d["content_type"], d["accept"]) for d in lines} == {("application/json", "text/x-final")}
        err = client_error(lambda: c.client().invoke_endpoint_with_response_stream(
            EndpointName=c.endpoint, Body=b"{}", TargetContainerHostname="streamer"))  # fmt: skip
        assert err["Error"]["Code"] == "ValidationError" and "Serial" in err["Error"]["Message"]
    finally:
        c.stop()


def test_streams_work_under_gunicorn_workers(tmp_path: Path) -> None:
    c = start_coserve(direct("workers-stream-ep", Workers=2), tmp_path)
    try:
        for _ in range(4):  # spread over both workers
            r = c.client().invoke_endpoint_with_response_stream(
                EndpointName=c.endpoint, TargetContainerHostname="streamer", Body=b"{}", CustomAttributes="parts=3"
            )
            buf = b"".join(e["PayloadPart"]["Bytes"] for e in r["Body"])
            assert [json.loads(x)["i"] for x in buf.splitlines()] == [0, 1, 2]
    finally:
        c.stop()


def test_botocore_s_parser_reads_the_raw_stream(guarded: Coserve) -> None:
    sock = open_raw(guarded, "parts=2")
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    payload, rest = b"", body
    while rest:  # de-chunk
        size, _, rest = rest.partition(b"\r\n")
        n = int(size, 16)
        payload, rest = payload + rest[:n], rest[n + 2 :]
    buf = EventStreamBuffer()
    buf.add_data(payload)
    events = list(buf)
    assert {m.headers[":event-type"] for m in events} == {"PayloadPart"}
    assert [json.loads(x)["i"] for x in b"".join(m.payload for m in events).splitlines()] == [0, 1]
