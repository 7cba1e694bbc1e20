"""Helpers for the hostile HTTP suite: raw sockets against the real front door, errors parsed by botocore,
the front door's memory, and a neighbour client whose service must not suffer."""

from __future__ import annotations

import socket
import sys
import time
import weakref
from typing import Any

import botocore.session
import psutil
from botocore.parsers import RestJSONParser

from tests.support import ROOT, Coserve, echo_container

HOSTILE = [sys.executable, str(ROOT / "tests" / "containers" / "hostile.py")]
_MODEL = botocore.session.get_session().get_service_model("sagemaker-runtime")
_OUTPUT = _MODEL.operation_model("InvokeEndpoint").output_shape
_leftover: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def containers() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`echo` (well behaved, the neighbour) and `bad` (tests/containers/hostile.py)."""
    echo, echo_cfg = echo_container("echo")
    bad = {"ContainerHostname": "bad", "Image": "process"}
    return [echo, bad], {"echo": echo_cfg, "bad": {"Command": HOSTILE}}


def botocore_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The error botocore would raise for this raw answer: {"Code", "Message", ...modeled members}."""
    parsed = RestJSONParser().parse({"status_code": status, "headers": headers, "body": body}, _OUTPUT)
    return {**parsed["Error"], **{k: v for k, v in parsed.items() if k not in ("Error", "ResponseMetadata")}}


def exchange(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one answer to the end of the connection or of its Content-Length."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        return read_answer(s)


def read_answer(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One answer; bytes read past its end (a pipelined next answer) are kept for the next call."""
    data = _leftover.pop(s, b"")
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer's headers: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    if len(body) > length:
        _leftover[s] = body[length:]
    return int(lines[0].split()[1]), headers, body[:length]


def closed_by_peer(s: socket.socket, timeout: float) -> bool:
    """True when the server closes this connection within `timeout` (EOF or reset), reading what it sends."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def rss(c: Coserve) -> int:
    return int(psutil.Process(c.proc.pid).memory_info().rss)


def served(c: Coserve, bound_s: float = 3.0) -> float:
    """A neighbour's request through boto3 must succeed within a generous bound; returns its seconds."""
    started = time.monotonic()
    r = c.client().invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname="echo", Body=b'{"n": 1}')
    seconds = time.monotonic() - started
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert seconds < bound_s, f"a neighbour waited {seconds:.2f}s"
    return seconds


def invoke_raw(c: Coserve, attrs: str, body: bytes = b"{}", target: str = "bad") -> tuple[int, dict[str, Any]]:
    """One InvokeEndpoint through boto3; (status, botocore's error or {}) without raising."""
    from botocore.exceptions import ClientError

    try:
        r = c.client().invoke_endpoint(
            EndpointName=c.endpoint, TargetContainerHostname=target, Body=body, CustomAttributes=attrs
        )
        r["Body"].read()
        return r["ResponseMetadata"]["HTTPStatusCode"], {}
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], {**exc.response["Error"], **exc.response}


def signed(c: Coserve, body: bytes, key: str = "AKIDTEST", secret: str = "secret", target: str = "echo",
           path: str | None = None, method: str = "POST") -> tuple[bytes, bytes]:  # fmt: skip
    """(head, body) of a request signed as boto3 signs it, to send raw (or only in part)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = path or f"/endpoints/{c.endpoint}/invocations"
    headers = {"X-Amzn-SageMaker-Target-Container-Hostname": target} if method == "POST" else {}
    request = AWSRequest(method, f"{c.url}{path}", headers=headers, data=body)
    SigV4Auth(Credentials(key, secret), "sagemaker", "us-east-1").add_auth(request)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{c.port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body
