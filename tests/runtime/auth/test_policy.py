"""IAM evaluation: Allow, Deny, default deny, wildcards, condition operators, absent keys."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runtime.auth import Authenticator, Decision, Principal, evaluate, parse_policy
from runtime.errors import AccessDeniedException
from tests.runtime.auth.boto_wire import SECRET

ACTION = "sagemaker:InvokeEndpoint"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint"
KEY = "sagemaker:TargetContainerHostname"


def statement(effect: str = "Allow", **fields: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": ACTION, "Resource": "*"} | fields


def decide(
    *statements: dict[str, Any], host: str | None = "primary", action: str = ACTION, resource: str = ARN
) -> Decision:
    policy = parse_policy({"Version": "2012-10-17", "Statement": list(statements)})
    context = {} if host is None else {KEY: host}
    return evaluate([policy], action, resource, context)


def test_allow_names_its_statement() -> None:
    assert decide(statement(Sid="Invoke")) == Decision(allowed=True, statement="Invoke")


def test_statement_without_sid_is_named_by_position() -> None:
    assert decide(statement(Action="s3:*"), statement()).statement == "policy.Statement[1]"


def test_nothing_allows_is_the_default_deny() -> None:
    decision = decide(statement(Action="sagemaker:CreateModel"))
    assert decision == Decision(allowed=False, statement=None)
    assert not decision.explicit_deny


@pytest.mark.parametrize("deny_first", [True, False])
def test_explicit_deny_wins_in_any_order(deny_first: bool) -> None:
    allow, deny = statement(Sid="A"), statement("Deny", Sid="D")
    decision = decide(*((deny, allow) if deny_first else (allow, deny)))
    assert decision == Decision(allowed=False, statement="D")
    assert decision.explicit_deny


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("Action", "*", True),
        ("Action", "sagemaker:*", True),
        ("Action", "sagemaker:Invoke*", True),
        ("Action", "SageMaker:invokeendpoint", True),  # action names are case-insensitive
        ("Action", "sagemaker:InvokeEndpoin?", True),
        ("Action", ["s3:GetObject", "sagemaker:InvokeEndpoint"], True),
        ("Action", "sagemaker:InvokeEndpointAsync", False),
        ("Action", "sagemaker:Create*", False),
        ("NotAction", "sagemaker:Create*", True),
        ("NotAction", "sagemaker:Invoke*", False),
        ("Resource", ARN, True),
        ("Resource", "arn:aws:sagemaker:*:*:endpoint/my-*", True),
        ("Resource", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoin?", True),
        ("Resource", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/My-Endpoint", False),
        ("Resource", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/other", False),
        ("Resource", "arn:aws:sagemaker:eu-west-1:*:endpoint/*", False),
        ("NotResource", "arn:aws:sagemaker:*:*:endpoint/other", True),
        ("NotResource", "*", False),
    ],
)
def test_action_and_resource_wildcards(field: str, value: Any, allowed: bool) -> None:
    stmt = statement()
    stmt.pop(field.removeprefix("Not"))
    assert decide(stmt | {field: value}).allowed is allowed


@pytest.mark.parametrize(
    ("operator", "values", "host", "allowed"),
    [
        ("StringLike", "customIps*", "customIps-1", True),
        ("StringLike", "customIps*", "customips-1", False),  # case-sensitive
        ("StringLike", "model-?", "model-1", True),
        ("StringLike", "model-?", "model-12", False),
        ("StringLike", ["a*", "b*"], "b1", True),  # values are ORed
        ("StringLike", ["a*", "b*"], "c1", False),
        ("StringNotLike", "special*", "common", True),
        ("StringNotLike", "special*", "special-1", False),
        ("StringNotLike", ["a*", "b*"], "b1", False),  # must match none of them
        ("StringEquals", "primary", "primary", True),
        ("StringEquals", "prim*", "primary", False),  # no wildcards in StringEquals
        ("StringEquals", ["x", "primary"], "primary", True),
        ("StringNotEquals", "primary", "primary", False),
        ("StringNotEquals", ["x", "y"], "primary", True),
        ("StringEqualsIgnoreCase", "PRIMARY", "primary", True),
        ("StringNotEqualsIgnoreCase", "PRIMARY", "primary", False),
        ("StringLikeIfExists", "a*", "b", False),
        ("StringLikeIfExists", "a*", "abc", True),
    ],
)
def test_condition_operators(operator: str, values: Any, host: str, allowed: bool) -> None:
    stmt = statement(Condition={operator: {KEY: values}})
    assert decide(stmt, host=host).allowed is allowed


@pytest.mark.parametrize(
    ("operator", "allowed"),
    [
        ("StringLike", False),  # IAM: a positive operator on an absent key does not match
        ("StringEquals", False),
        ("StringNotLike", True),  # ... and a negated one does
        ("StringNotEquals", True),
        ("StringLikeIfExists", True),
        ("StringEqualsIfExists", True),
        ("StringNotLikeIfExists", True),
    ],
)
def test_absent_key_as_in_serial_mode(operator: str, allowed: bool) -> None:
    stmt = statement(Condition={operator: {KEY: "*"}})
    assert decide(stmt, host=None).allowed is allowed


def test_condition_key_is_case_insensitive() -> None:
    stmt = statement(Condition={"StringEquals": {KEY.lower(): "primary"}})
    assert decide(stmt, host="primary").allowed


@pytest.mark.parametrize(("host", "allowed"), [("cx", True), ("co", False), ("dx", False)])
def test_operators_and_keys_are_anded(host: str, allowed: bool) -> None:
    conditions = {
        "StringLike": {KEY: "c*", KEY.upper(): ["?x", "?o"]},
        "StringNotLike": {KEY: "co*"},
    }
    assert decide(statement(Condition=conditions), host=host).allowed is allowed


# The two policies of the AWS multi-container docs, "Security with multi-container endpoints".
DOC_POLICY_1 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint"],
            "Resource": ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/endpoint_name"],
            "Condition": {"StringLike": {KEY: ["customIps*", "common*"]}},
        }
    ],
}
DOC_POLICY_2 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint"],
            "Resource": ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/endpoint_name"],
            "Condition": {"StringLike": {KEY: ["*"]}},
        },
        {
            "Sid": "DenySpecial",
            "Effect": "Deny",
            "Action": ["sagemaker:InvokeEndpoint"],
            "Resource": ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/endpoint_name"],
            "Condition": {"StringLike": {KEY: ["special*"]}},
        },
    ],
}


def doc_authorizer(policy: dict[str, Any]) -> tuple[Authenticator, Principal]:
    principal = Principal("AKIDDOCS", SECRET, "bob", (parse_policy(policy),))
    return Authenticator([principal], account="123456789012"), principal


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("customIps-1", True),
        ("customIps", True),
        ("common", True),
        ("commonly", True),
        ("other", False),
        ("CustomIps-1", False),
        ("xcommon", False),
        (None, False),
    ],
)
def test_doc_policy_1_allows_only_listed_containers(host: str | None, allowed: bool) -> None:
    auth, principal = doc_authorizer(DOC_POLICY_1)
    if allowed:
        assert auth.authorize(principal, "endpoint_name", host).allowed
    else:
        with pytest.raises(AccessDeniedException, match="because no identity-based policy allows"):
            auth.authorize(principal, "endpoint_name", host)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("special-x", False),
        ("special", False),
        ("anything-else", True),
        ("Special-x", True),
        ("notspecial", True),
        (None, False),
    ],
)
def test_doc_policy_2_denies_special_containers(host: str | None, allowed: bool) -> None:
    auth, principal = doc_authorizer(DOC_POLICY_2)
    if allowed:
        assert auth.authorize(principal, "endpoint_name", host).allowed
    elif host is None:  # StringLike ["*"] on an absent key does not match: nothing allows
        with pytest.raises(AccessDeniedException, match="no identity-based policy allows"):
            auth.authorize(principal, "endpoint_name", host)
    else:
        with pytest.raises(AccessDeniedException, match="with an explicit deny"):
            auth.authorize(principal, "endpoint_name", host)


def test_denial_message_is_worded_as_iam_words_it() -> None:
    auth, principal = doc_authorizer(DOC_POLICY_1)
    with pytest.raises(AccessDeniedException) as caught:
        auth.authorize(principal, "Other-EP", "customIps-1")
    assert caught.value.status == 403
    assert caught.value.message == (
        "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: "
        "sagemaker:InvokeEndpoint on resource: "
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/other-ep "
        "because no identity-based policy allows the sagemaker:InvokeEndpoint action"
    )


def test_decisions_are_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    auth, principal = doc_authorizer(DOC_POLICY_2)
    with caplog.at_level(logging.DEBUG, logger="runtime.auth"):
        auth.authorize(principal, "endpoint_name", "common-1")
        with pytest.raises(AccessDeniedException):
            auth.authorize(principal, "endpoint_name", "special-1")
    allow, deny = (r.getMessage() for r in caplog.records if r.name == "runtime.auth")
    assert allow.startswith("allow: principal=bob endpoint=endpoint_name container=common-1")
    assert allow.endswith("statement=policy.Statement[0]")
    assert deny.startswith("deny: principal=bob endpoint=endpoint_name container=special-1")
    assert deny.endswith("statement=DenySpecial")
    assert SECRET not in caplog.text
