"""Requests exactly as boto3 signs them, captured at botocore's `before-send` hook.

Returning a response from `before-send` is botocore's documented way to short-circuit the
send, so what the tests verify is what boto3 would have put on the wire. The one header the
HTTP library (urllib3) adds after signing, `Host`, is added here the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

KEY_ID = "AKIDCOSERVETEST1"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*"},
}


@dataclass(frozen=True)
class Wire:
    """What the front door receives: the fields `Authenticator.authenticate` takes."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def signed_at(self) -> datetime:
        stamp = self.headers["x-amz-date"]
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


class _EmptyRaw:
    """The raw body botocore streams from; the tests never read it."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""

    def read(self, *_: Any, **__: Any) -> bytes:
        return b""


def to_wire(request: AWSPreparedRequest) -> Wire:
    url = urlsplit(request.url)
    headers = {"host": url.netloc}
    for name, value in request.headers.items():
        headers[name.lower()] = value.decode() if isinstance(value, bytes) else value
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    return Wire(request.method, url.path, url.query, headers, body)


def boto_invoke(key_id: str = KEY_ID, secret: str = SECRET, region: str = "us-east-1", **params: Any) -> Wire:
    """Call invoke_endpoint with boto3 and return the request it signed."""
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url="http://127.0.0.1:8080",
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
    sent: list[AWSPreparedRequest] = []

    def capture(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _EmptyRaw())

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", capture)
    params.setdefault("EndpointName", "my-endpoint")
    params.setdefault("Body", b'{"instances": [1, 2, 3]}')
    client.invoke_endpoint(**params)
    client.close()
    return to_wire(sent[0])
