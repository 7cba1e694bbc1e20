"""Coserve.Auth for control-plane calls: boto3's SigV4 verified, IAM policies by action and resource ARN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.auth.build import build_authenticator
from runtime.control.authz import SigV4Guard
from runtime.control.store import Store
from tests.runtime.control.conftest import Served, serve
from tests.runtime.control.helpers import ACCOUNT_ARN, error, model
from tests.support import client_error

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["sagemaker:CreateModel", "sagemaker:DescribeModel"],
         "Resource": f"{ACCOUNT_ARN}:model/team-a-*"},
        {"Effect": "Allow", "Action": "sagemaker:List*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sagemaker:DescribeModel", "Resource": f"{ACCOUNT_ARN}:model/team-a-secret"},
    ],
}  # fmt: skip


@pytest.fixture
def guarded(store: Store, tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "secret").write_text("s3cret\n")
    auth = {"Principals": [{"AccessKeyId": "AKIDTEAMA", "Name": "team-a", "SecretAccessKeyFile": "secret",
                            "Policies": [POLICY]}]}  # fmt: skip
    served = serve(store, guard=SigV4Guard(build_authenticator(auth, tmp_path)))
    yield served
    served.stop()


def test_signed_calls_are_authorized_by_action_and_arn(guarded: Served) -> None:
    sm = guarded.client(key="AKIDTEAMA", secret="s3cret")
    forged = guarded.client(key="AKIDTEAMA", secret="wrong")
    stranger = guarded.client(key="AKIDNOBODY", secret="x")
    try:
        sm.create_model(**model("team-a-m1"))
        assert sm.describe_model(ModelName="team-a-m1")["ModelName"] == "team-a-m1"
        assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["team-a-m1"]
        code, message = error(client_error(lambda: sm.create_model(**model("team-b-m1"))))
        assert code == "AccessDeniedException"
        assert message == (
            "User: arn:aws:iam::000000000000:user/team-a is not authorized to perform: sagemaker:CreateModel on "
            f"resource: {ACCOUNT_ARN}:model/team-b-m1 because no identity-based policy allows the "
            "sagemaker:CreateModel action"
        )
        sm.create_model(**model("team-a-secret"))
        code, message = error(client_error(lambda: sm.describe_model(ModelName="team-a-secret")))
        assert code == "AccessDeniedException" and message.endswith("with an explicit deny in an identity-based policy")
        assert error(client_error(lambda: forged.list_models()))[0] == "InvalidSignatureException"
        assert error(client_error(lambda: stranger.list_models()))[0] == "UnrecognizedClientException"
    finally:
        for client in (sm, forged, stranger):
            client.close()


def test_unsigned_calls_are_refused(guarded: Served) -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    anonymous: Any = boto3.client(
        "sagemaker", endpoint_url=guarded.url, region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )  # fmt: skip
    try:
        code, message = error(client_error(lambda: anonymous.list_models()))
        assert (code, message) == ("MissingAuthenticationTokenException", "Missing Authentication Token")
    finally:
        anonymous.close()
