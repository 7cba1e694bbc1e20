"""Access control through the real front door: boto3 signs, coserve verifies and applies IAM-style policies."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.support import ROOT, Coserve, client_error, echo_container, start_coserve

pytestmark = pytest.mark.integration
HOSTS = ["customIps-1", "common", "commonly", "special-x", "other"]
INVOKE = "sagemaker:InvokeEndpoint"
EP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/auth-ep"
# The two policies of AWS's multi-container documentation, verbatim in shape.
ALLOW_SOME = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": [INVOKE], "Resource": EP_ARN,
    "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": ["customIps*", "common*"]}},
}]}  # fmt: skip
DENY_SPECIAL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": [INVOKE], "Resource": "*"},
    {"Sid": "NoSpecial", "Effect": "Deny", "Action": [INVOKE], "Resource": "*",
     "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": ["special*"]}}},
]}  # fmt: skip


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("auth")
    (work / "team.secret").write_text("team-secret\n")
    containers, settings = [], {}
    for host in HOSTS:
        c, cfg = echo_container(host)
        containers.append(c)
        settings[host] = cfg
    doc = {
        "EndpointName": "auth-ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": containers,
        "Coserve": {
            "Containers": settings,
            "Auth": {
                "AccountId": "123456789012",
                "Principals": [
                    {"AccessKeyId": "AKIDTEAM", "Name": "team", "SecretAccessKeyFile": "team.secret",
                     "Policies": [ALLOW_SOME]},
                    {"AccessKeyId": "AKIDOPS", "Name": "ops", "SecretAccessKeyEnv": "OPS_SECRET",
                     "Policies": [DENY_SPECIAL]},
                ],
            },
        },
    }  # fmt: skip
    c = start_coserve(doc, work, env={"OPS_SECRET": "ops-secret"}, wait_ready=False)
    yield c
    c.stop()


def call(c: Coserve, key: str, secret: str, host: str, **kw: Any) -> dict[str, Any]:
    hooks = kw.pop("hooks", {})
    client = c.client(key=key, secret=secret, fresh=bool(hooks))
    for event, handler in hooks.items():
        client.meta.events.register(event, handler)
    try:
        r = client.invoke_endpoint(EndpointName="auth-ep", TargetContainerHostname=host, Body=b'{"x": 1}', **kw)
        return {"status": r["ResponseMetadata"]["HTTPStatusCode"]}
    except ClientError as exc:
        return {"status": exc.response["ResponseMetadata"]["HTTPStatusCode"], "code": exc.response["Error"]["Code"],
                "message": exc.response["Error"]["Message"]}  # fmt: skip


def wait_ready(c: Coserve) -> None:
    from tests.support import wait_for

    wait_for(lambda: c.ping()[0] == 200, 60, "every container RUNNING")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("customIps-1", True), ("common", True), ("commonly", True), ("special-x", False), ("other", False)],
)
def test_aws_example_policy_allowing_some_containers(guarded: Coserve, host: str, allowed: bool) -> None:
    wait_ready(guarded)
    got = call(guarded, "AKIDTEAM", "team-secret", host)
    if allowed:
        assert got == {"status": 200}
    else:
        assert (got["status"], got["code"]) == (403, "AccessDeniedException")
        assert (
            "arn:aws:iam::123456789012:user/team is not authorized to perform: sagemaker:InvokeEndpoint"
            in got["message"]
        )


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("customIps-1", True), ("common", True), ("commonly", True), ("special-x", False), ("other", True)],
)
def test_aws_example_policy_denying_special_containers(guarded: Coserve, host: str, allowed: bool) -> None:
    wait_ready(guarded)
    got = call(guarded, "AKIDOPS", "ops-secret", host)
    assert got["status"] == (200 if allowed else 403)
    if not allowed:
        assert "explicit deny" in got["message"]


def test_wrong_secret_unknown_key_and_missing_signature(guarded: Coserve) -> None:
    wait_ready(guarded)
    wrong = call(guarded, "AKIDOPS", "not-the-secret", "other")
    assert (wrong["status"], wrong["code"]) == (403, "InvalidSignatureException")
    unknown = call(guarded, "AKIDNOBODY", "whatever", "other")
    assert (unknown["status"], unknown["code"]) == (403, "UnrecognizedClientException")
    req = urllib.request.Request(f"{guarded.url}/endpoints/auth-ep/invocations", data=b"{}", method="POST",
                                 headers={"X-Amzn-SageMaker-Target-Container-Hostname": "other"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    with info.value as error:
        assert error.code == 403
        assert error.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")


def test_a_body_altered_after_signing_is_rejected(guarded: Coserve) -> None:
    wait_ready(guarded)

    def tamper(request: Any, **_: Any) -> None:
        request.body = b'{"x": 2}'
        request.headers["Content-Length"] = str(len(request.body))

    got = call(
        guarded, "AKIDOPS", "ops-secret", "other", hooks={"before-send.sagemaker-runtime.InvokeEndpoint": tamper}
    )
    assert (got["status"], got["code"]) == (403, "InvalidSignatureException")


def test_an_unknown_endpoint_is_only_revealed_to_an_allowed_caller(guarded: Coserve) -> None:
    wait_ready(guarded)
    client = guarded.client(key="AKIDOPS", secret="ops-secret")
    info = client_error(
        lambda: client.invoke_endpoint(EndpointName="nope", TargetContainerHostname="other", Body=b"{}")
    )
    assert info["Error"]["Code"] == "ValidationError"
    team = guarded.client(key="AKIDTEAM", secret="team-secret")
    info = client_error(lambda: team.invoke_endpoint(EndpointName="nope", TargetContainerHostname="common", Body=b"{}"))
    assert info["Error"]["Code"] == "AccessDeniedException"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_non_loopback_bind_without_auth_is_refused(tmp_path: Path) -> None:
    c, cfg = echo_container("a")
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({"EndpointName": "e", "Containers": [c], "Coserve": {"Containers": {"a": cfg}}}))
    done = run_cli("serve", str(path), "--host", "0.0.0.0", "--port", "1")
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without Coserve.Auth" in done.stderr
    assert "--allow-unauthenticated" in done.stderr


def test_a_malformed_policy_is_a_startup_error_naming_the_field(tmp_path: Path) -> None:
    c, cfg = echo_container("a")
    bad = {"Statement": [{"Effect": "Permit", "Action": INVOKE, "Resource": "*",
                          "Condition": {"StringMatches": {"sagemaker:TargetContainerHostname": "x"}}}]}  # fmt: skip
    doc = {"EndpointName": "e", "Containers": [c], "Coserve": {"Containers": {"a": cfg}, "Auth": {
        "Principals": [{"AccessKeyId": "AK", "SecretAccessKey": "do-not-print-me", "Policies": [bad]}]}}}  # fmt: skip
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc))
    done = run_cli("check", str(path))
    assert done.returncode == 2
    assert "Statement[0].Effect" in done.stderr and "Permit" in done.stderr
    assert "StringMatches" in done.stderr
    assert "do-not-print-me" not in done.stderr
