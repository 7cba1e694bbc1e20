"""Coserve.Auth on InvokeEndpointAsync: boto3's SigV4 signature, then policies on sagemaker:InvokeEndpointAsync."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runtime.asyncinv.conftest import Served, async_config
from tests.support import client_error

pytestmark = pytest.mark.integration
ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep"


def principal(key: str, name: str, action: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": ARN}
    return {"AccessKeyId": key, "SecretAccessKey": f"{name}-secret", "Name": name,
            "Policies": [{"Version": "2012-10-17", "Statement": [statement]}]}  # fmt: skip


@pytest.fixture
def served(serve: Any, bucket: str) -> Served:
    auth = {"Principals": [principal("AKIDASYNC", "async-user", "sagemaker:InvokeEndpointAsync"),
                           principal("AKIDSYNC", "sync-user", "sagemaker:InvokeEndpoint")]}  # fmt: skip
    return serve({"ep": async_config(bucket), "other": async_config(bucket)}, auth=auth)  # type: ignore[no-any-return]


def error(client: Any, **params: Any) -> tuple[str, str]:
    e = client_error(lambda: client.invoke_endpoint_async(**params))["Error"]
    return e["Code"], e["Message"]


def test_a_policy_on_invoke_endpoint_async_lets_it_through(served: Served) -> None:
    r = served.client("AKIDASYNC", "async-user-secret").invoke_endpoint_async(EndpointName="ep", Body=b"x")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 202


def test_refusals(served: Served) -> None:
    sync_only = served.client("AKIDSYNC", "sync-user-secret")
    action = "sagemaker:InvokeEndpointAsync"
    assert error(sync_only, EndpointName="ep", Body=b"x") == (
        "AccessDeniedException",
        f"User: arn:aws:iam::000000000000:user/sync-user is not authorized to perform: {action} on resource: {ARN} "
        f"because no identity-based policy allows the {action} action",
    )
    allowed = served.client("AKIDASYNC", "async-user-secret")
    # Another endpoint, and one that does not exist, are denied alike: nothing says what exists.
    for name in ("other", "missing"):
        code, message = error(allowed, EndpointName=name, Body=b"x")
        assert code == "AccessDeniedException" and f"endpoint/{name} because" in message
    forged = served.client("AKIDASYNC", "not-the-secret")
    assert error(forged, EndpointName="ep", Body=b"x")[0] == "InvalidSignatureException"
    unknown = served.client("AKIDNOBODY", "whatever")
    assert error(unknown, EndpointName="ep", Body=b"x") == (
        "UnrecognizedClientException", "The security token included in the request is invalid.")  # fmt: skip
