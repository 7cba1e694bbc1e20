"""SigV4 verification against requests that boto3 and botocore really signed."""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from runtime.auth import Authenticator, Principal
from runtime.auth.sigv4 import canonical_uri
from runtime.errors import (
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    SageMakerError,
    UnrecognizedClientException,
)
from tests.runtime.auth.boto_wire import KEY_ID, SECRET, Wire, boto_invoke

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools

Auth = Callable[..., Principal]


def replace_headers(wire: Wire, **changes: str | None) -> Wire:
    headers = {k: v for k, v in wire.headers.items() if changes.get(k, "") is not None}
    headers.update({k: v for k, v in changes.items() if v is not None})
    return Wire(wire.method, wire.path, wire.query, headers, wire.body)


def rejected(authenticate: Auth, wire: Wire, error: type[SageMakerError], **kw: object) -> str:
    with pytest.raises(error) as caught:
        authenticate(wire, **kw)
    assert caught.value.status == 403
    return caught.value.message


def test_boto3_request_with_every_header_authenticates(authenticate: Auth) -> None:
    wire = boto_invoke(
        TargetContainerHostname="customIps-1",
        CustomAttributes="trace=1",
        ContentType="application/json",
        Accept="application/json",
    )
    signed = wire.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amzn-sagemaker-target-container-hostname" in signed
    assert "x-amzn-sagemaker-custom-attributes" in signed
    assert authenticate(wire).name == "alice"


def test_wrong_secret_is_an_invalid_signature(authenticate: Auth) -> None:
    wire = boto_invoke(secret="not-the-secret")
    assert "does not match the signature you provided" in rejected(authenticate, wire, InvalidSignatureException)


def test_rejections_are_logged_without_the_secret(authenticate: Auth, caplog: pytest.LogCaptureFixture) -> None:
    wire = boto_invoke(secret="not-the-secret")
    with caplog.at_level(logging.DEBUG, logger="runtime.auth"):
        rejected(authenticate, wire, InvalidSignatureException)
    assert f"rejected: key={KEY_ID} InvalidSignatureException:" in caplog.text
    assert SECRET not in caplog.text and "not-the-secret" not in caplog.text


def test_altered_body_is_an_invalid_signature(authenticate: Auth) -> None:
    wire = boto_invoke()
    tampered = Wire(wire.method, wire.path, wire.query, wire.headers, wire.body + b" ")
    rejected(authenticate, tampered, InvalidSignatureException)


def test_altered_target_hostname_is_an_invalid_signature(authenticate: Auth) -> None:
    wire = boto_invoke(TargetContainerHostname="common-1")
    tampered = replace_headers(wire, **{"x-amzn-sagemaker-target-container-hostname": "special-1"})
    rejected(authenticate, tampered, InvalidSignatureException)


def test_unsigned_sagemaker_header_added_later_is_refused(authenticate: Auth) -> None:
    wire = boto_invoke()
    added = replace_headers(wire, **{"x-amzn-sagemaker-target-container-hostname": "special-1"})
    message = rejected(authenticate, added, InvalidSignatureException)
    assert "must be a 'SignedHeader'" in message


def test_stale_date_is_signature_expired(authenticate: Auth) -> None:
    wire = boto_invoke()
    now = wire.signed_at + timedelta(minutes=20)
    message = rejected(authenticate, wire, InvalidSignatureException, now=now)
    stamp = wire.headers["x-amz-date"]
    earliest = (now - timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    expected = f"Signature expired: {stamp} is now earlier than {earliest} "
    assert message == expected + f"({now.strftime('%Y%m%dT%H%M%SZ')} - 5 min.)"


def test_future_date_is_not_yet_current(authenticate: Auth) -> None:
    wire = boto_invoke()
    message = rejected(authenticate, wire, InvalidSignatureException, now=wire.signed_at - timedelta(minutes=6))
    assert message.startswith("Signature not yet current: ")


def test_skew_inside_the_window_is_accepted(authenticate: Auth) -> None:
    wire = boto_invoke()
    assert authenticate(wire, now=wire.signed_at + timedelta(minutes=4, seconds=59))
    assert authenticate(wire, now=wire.signed_at - timedelta(minutes=4, seconds=59))


def test_unknown_key_is_an_unrecognized_client(authenticate: Auth) -> None:
    wire = boto_invoke(key_id="AKIDSOMEONEELSE1")
    message = rejected(authenticate, wire, UnrecognizedClientException)
    assert message == "The security token included in the request is invalid."


def test_session_token_is_refused_as_coserve_issues_none(authenticate: Auth) -> None:
    wire = boto_invoke()
    rejected(authenticate, replace_headers(wire, **{"x-amz-security-token": "t"}), UnrecognizedClientException)


def test_missing_authorization_is_a_missing_token(authenticate: Auth) -> None:
    wire = replace_headers(boto_invoke(), authorization=None)
    assert rejected(authenticate, wire, MissingAuthenticationTokenException) == ("Missing Authentication Token")


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        ("Bearer abc.def", "Unsupported Authorization scheme 'Bearer'"),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20240101/us-east-1/sagemaker/aws4_request",
            "requires 'SignedHeaders' parameter. Authorization header requires 'Signature'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=x/y, SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements",
        ),
    ],
)
def test_malformed_authorization_is_named(authenticate: Auth, authorization: str, fragment: str) -> None:
    wire = replace_headers(boto_invoke(), authorization=authorization)
    assert "abc.def" not in rejected(authenticate, wire, InvalidSignatureException)
    with pytest.raises(InvalidSignatureException, match=fragment):
        authenticate(wire)


def test_content_sha256_must_match_the_body(authenticate: Auth) -> None:
    wire = replace_headers(boto_invoke(), **{"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert "x-amz-content-sha256" in rejected(authenticate, wire, InvalidSignatureException)


def test_missing_date_is_named(authenticate: Auth) -> None:
    signed = boto_invoke()
    wire = replace_headers(signed, **{"x-amz-date": None})
    with pytest.raises(InvalidSignatureException, match="'X-Amz-Date' or a 'Date' header"):
        authenticate(wire, now=signed.signed_at)


def test_date_header_instead_of_x_amz_date_is_verified(authenticate: Auth) -> None:
    wire = botocore_signed("/endpoints/e/invocations", "", {"Date": "placeholder"}, b"{}")
    assert "x-amz-date" not in wire.headers
    now = parsedate_to_datetime(wire.headers["date"])
    assert authenticate(wire, now=now).name == "alice"


def test_service_scope_must_be_sagemaker(authenticate: Auth) -> None:
    wire = botocore_signed("/endpoints/my-endpoint/invocations", "", {}, b"", service="execute-api")
    with pytest.raises(InvalidSignatureException, match="scoped to correct service: 'sagemaker'"):
        authenticate(wire)


def test_any_region_in_the_scope_is_accepted(authenticate: Auth) -> None:
    assert authenticate(boto_invoke(region="eu-west-1")).name == "alice"


def test_starlette_headers_are_looked_up_case_insensitively(authenticator: Authenticator) -> None:
    wire = boto_invoke(TargetContainerHostname="common")
    raw = [(k.title().encode(), v.encode()) for k, v in wire.headers.items()]
    principal = authenticator.authenticate(
        wire.method, wire.path, wire.query, Headers(raw=raw), wire.body, now=wire.signed_at
    )
    assert principal.name == "alice"


def botocore_signed(path: str, query: str, headers: dict[str, str], body: bytes, service: str = "sagemaker") -> Wire:
    """A request signed by botocore's own SigV4Auth, as the server would then receive it."""
    url = "http://127.0.0.1:8080" + path + (f"?{query}" if query else "")
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(KEY_ID, SECRET), service, "us-east-1").add_auth(request)
    wire_headers = {"host": "127.0.0.1:8080"}
    wire_headers.update({k.lower(): str(v) for k, v in request.headers.items()})
    parts = urlsplit(url)
    return Wire("POST", parts.path, parts.query, wire_headers, body)


_PATH = st.lists(st.sampled_from(["a", "B-1", ".", "..", "", "x~y", "%41", "%2F", "é", "a:b@c"]))
_QUERY = st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=4)
_VALUE = st.text(alphabet=string.ascii_letters + string.digits + " \t,;=*-", max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    segments=_PATH,
    trailing=st.booleans(),
    pairs=_QUERY,
    values=st.lists(_VALUE, max_size=3),
    body=st.binary(max_size=64),
)
def test_canonicalisation_matches_botocore(
    segments: list[str],
    trailing: bool,
    pairs: list[tuple[str, str]],
    values: list[str],
    body: bytes,
) -> None:
    path = "/" + "/".join(quote(s, safe="%~:@") for s in segments) + ("/" if trailing else "")
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    headers = {f"X-Amzn-SageMaker-Custom-{i}": v for i, v in enumerate(values)}
    wire = botocore_signed(path, query, headers, body)
    authenticator = Authenticator([Principal(KEY_ID, SECRET, "alice")])
    principal = authenticator.authenticate(
        wire.method, wire.path, wire.query, wire.headers, wire.body, now=wire.signed_at
    )
    assert principal.access_key_id == KEY_ID


def test_canonical_uri_encodes_the_wire_path_again() -> None:
    assert canonical_uri("/endpoints/a%20b/invocations") == "/endpoints/a%2520b/invocations"
    assert canonical_uri("") == "/"
    assert canonical_uri("//a/./b/../c/") == "/a/c/"


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[Wire]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.seen.append(Wire("POST", path, query, headers, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_request_received_over_http_authenticates(loopback: str, authenticate: Auth) -> None:
    """The wire as an HTTP server sees it (Host with port, urllib3's headers) also verifies."""
    _Recorder.seen.clear()
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=loopback,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )
    client.invoke_endpoint(
        EndpointName="My-Endpoint", Body=b"1,2,3", ContentType="text/csv", TargetContainerHostname="customIps-2"
    )
    client.close()
    (wire,) = _Recorder.seen
    assert wire.path == "/endpoints/My-Endpoint/invocations"
    assert authenticate(wire).name == "alice"
