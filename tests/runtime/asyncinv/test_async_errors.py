"""Every way InvokeEndpointAsync refuses a request: botocore's error code and SageMaker's message.

botocore checks minimums (lengths, integer floors) before it sends; those are sent here with its parameter
validation off, as a client in another language would send them. Raw HTTP covers what botocore cannot send.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.runtime.asyncinv.conftest import Served, async_config
from tests.support import client_error

pytestmark = pytest.mark.integration
LOC = "s3://in/x"  # never read: every request here is refused before it is queued


@pytest.fixture
def served(serve: Any, bucket: str) -> Iterator[Served]:
    yield serve({
        "ep": async_config(bucket), "realtime": {"EndpointConfigName": "rt", "ProductionVariants": []},
        "nooutput": {"AsyncInferenceConfig": {"OutputConfig": {}}},
    })  # fmt: skip


def refused(client: Any, **params: Any) -> tuple[str, str, int]:
    error = client_error(lambda: client.invoke_endpoint_async(**params))
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


CASES = [
    ({"EndpointName": "nope", "InputLocation": LOC}, "Endpoint nope not found."),
    ({"EndpointName": "realtime", "InputLocation": LOC},
     "Endpoint realtime is not an asynchronous endpoint: its endpoint configuration has no AsyncInferenceConfig. "
     "Use InvokeEndpoint, or update the endpoint to a configuration with one."),
    ({"EndpointName": "nooutput", "InputLocation": LOC},
     "Endpoint nooutput's AsyncInferenceConfig has no s3:// S3OutputPath."),
    ({"EndpointName": "ep"},
     "InputLocation or Body must be provided: the S3 URI of the payload, or the payload."),
    ({"EndpointName": "ep", "InputLocation": LOC, "Body": b"x"},
     "InputLocation and Body are mutually exclusive: provide exactly one of them."),
    ({"EndpointName": "ep", "InputLocation": LOC, "RequestTTLSeconds": 21601},
     "1 validation error detected: Value '21601' at 'requestTTLSeconds' failed to satisfy constraint: "
     "Member must have value less than or equal to 21600"),
    ({"EndpointName": "ep", "InputLocation": LOC, "RequestTTLSeconds": 30},
     "1 validation error detected: Value '30' at 'requestTTLSeconds' failed to satisfy constraint: "
     "Member must have value greater than or equal to 60"),
    ({"EndpointName": "ep", "InputLocation": LOC, "InvocationTimeoutSeconds": 3601},
     "1 validation error detected: Value '3601' at 'invocationTimeoutSeconds' failed to satisfy constraint: "
     "Member must have value less than or equal to 3600"),
    ({"EndpointName": "ep", "InputLocation": LOC, "InvocationTimeoutSeconds": 0},
     "1 validation error detected: Value '0' at 'invocationTimeoutSeconds' failed to satisfy constraint: "
     "Member must have value greater than or equal to 1"),
    ({"EndpointName": "ep", "InputLocation": LOC, "InferenceId": "i" * 65},
     f"1 validation error detected: Value '{'i' * 65}' at 'inferenceId' failed to satisfy constraint: "
     "Member must have length less than or equal to 64"),
    ({"EndpointName": "ep", "InputLocation": "ftp://bucket/key"},
     "1 validation error detected: Value 'ftp://bucket/key' at 'inputLocation' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)"),
    ({"EndpointName": "ep", "InputLocation": "https://bucket.s3.amazonaws.com/key"},
     "InputLocation https://bucket.s3.amazonaws.com/key is not supported: coserve reads s3:// URIs only."),
    ({"EndpointName": "ep", "InputLocation": LOC, "Filename": "a.b.c"},
     "1 validation error detected: Value 'a.b.c' at 'filename' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: (?!.*\\..*\\.)[a-zA-Z0-9][a-zA-Z0-9_.-]*"),
    ({"EndpointName": "ep", "InputLocation": LOC, "S3OutputPathExtension": "s3://elsewhere"},
     "1 validation error detected: Value 's3://elsewhere' at 's3OutputPathExtension' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: (?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+"),
    ({"EndpointName": "ep", "InputLocation": LOC, "CustomAttributes": "é"},
     "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [\\x00-\\x7f]*"),
    ({"EndpointName": "bad_name", "InputLocation": LOC},
     "1 validation error detected: Value 'bad_name' at 'endpointName' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9])*"),
    ({"EndpointName": "ep", "InputLocation": LOC, "RequestTTLSeconds": 59, "InvocationTimeoutSeconds": 4000},
     "2 validation errors detected: Value '59' at 'requestTTLSeconds' failed to satisfy constraint: Member must "
     "have value greater than or equal to 60; Value '4000' at 'invocationTimeoutSeconds' failed to satisfy "
     "constraint: Member must have value less than or equal to 3600"),
    ({"EndpointName": "ep", "Body": b"x" * 128_001},
     "Request payload of 128001 bytes exceeds the maximum allowed size of 128000 bytes."),
]  # fmt: skip


def test_each_refusal_is_a_validation_error_in_sagemakers_words(served: Served) -> None:
    client = served.client(parameter_validation=False)
    for params, message in CASES:
        assert refused(client, **params) == ("ValidationError", message, 400), params
    assert _rows(served) == 0  # nothing refused was queued


def test_what_botocore_checks_itself_never_reaches_the_server(served: Served) -> None:
    """With parameter validation on (boto3's default), a TTL under 60 is refused by the client: the reason the
    table above turns it off."""
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        served.client().invoke_endpoint_async(EndpointName="ep", InputLocation=LOC, RequestTTLSeconds=30)


def raw(served: Served, method: str, headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.request(method, "/endpoints/ep/async-invocations", body=b"" if method == "POST" else None, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read())
    finally:
        conn.close()


def test_what_only_a_raw_client_can_send(served: Served) -> None:
    status, headers, doc = raw(served, "POST", {"X-Amzn-SageMaker-InputLocation": LOC,
                                                "X-Amzn-SageMaker-RequestTTLSeconds": "soon"})  # fmt: skip
    assert (status, doc["__type"]) == (400, "ValidationError")
    assert doc["message"] == ("1 validation error detected: Value 'soon' at 'requestTTLSeconds' failed to satisfy "
                              "constraint: Member must be an integer")  # fmt: skip
    assert headers["x-amzn-errortype"].startswith("ValidationError:")
    status, headers, doc = raw(served, "GET", {})
    assert (status, doc["__type"]) == (405, "UnknownOperationException")
    assert doc["message"] == "GET is not supported on /endpoints/ep/async-invocations."
    assert _rows(served) == 0


def _rows(served: Served) -> int:
    import sqlite3

    with sqlite3.connect(served.db) as conn:
        return int(conn.execute("SELECT count(*) FROM async_invocations").fetchone()[0])
