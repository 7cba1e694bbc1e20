"""Properties: the wildcard matcher agrees with fnmatch, and evaluation keeps IAM's invariants."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runtime.auth import Policy, evaluate, parse_policy
from runtime.auth.matching import like

ACTION = "sagemaker:InvokeEndpoint"
ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep"
KEY = "sagemaker:TargetContainerHostname"


def reference(pattern: str, value: str) -> bool:
    """fnmatch gives `[` a meaning IAM does not; escaping it as `[[]` leaves only * and ?."""
    return fnmatchcase(value, pattern.replace("[", "[[]"))


@given(st.text(alphabet="ab*?[]-", max_size=12), st.text(alphabet="ab*?[]-", max_size=12))
def test_like_agrees_with_fnmatch(pattern: str, value: str) -> None:
    assert like(pattern, value) is reference(pattern, value)


@given(st.text(max_size=12))
def test_a_value_matches_itself_when_it_has_no_wildcards(value: str) -> None:
    literal = value.replace("*", "").replace("?", "")
    assert like(literal, literal) and like("*", value) and like("*" + literal + "*", "x" + literal)


def test_many_stars_against_a_long_value_stay_fast() -> None:
    assert not like("*a" * 30 + "b", "a" * 5000)


_CONDITION = st.sampled_from(
    [
        None,
        {"StringLike": {KEY: ["a*", "b?"]}},
        {"StringNotLike": {KEY: "a*"}},
        {"StringEquals": {KEY: "ab"}},
        {"StringNotEquals": {KEY: ["ab", "b"]}},
        {"StringLikeIfExists": {KEY: "*b"}},
    ]
)
_STATEMENT = st.builds(
    lambda effect, action, resource, condition: (
        {"Effect": effect, "Action": action, "Resource": resource} | ({"Condition": condition} if condition else {})
    ),
    st.sampled_from(["Allow", "Deny"]),
    st.sampled_from(["*", "sagemaker:*", "sagemaker:Invoke*", "sagemaker:CreateModel", "s3:*"]),
    st.sampled_from(["*", ARN, "arn:aws:sagemaker:*:*:endpoint/e?", "arn:aws:sagemaker:*:*:endpoint/other"]),
    _CONDITION,
)
_HOST = st.one_of(st.none(), st.text(alphabet="ab", max_size=3))


def policy(statements: list[dict[str, Any]]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": statements})


def decide(statements: list[dict[str, Any]], host: str | None) -> bool:
    return evaluate([policy(statements)], ACTION, ARN, {} if host is None else {KEY: host}).allowed


@given(st.lists(_STATEMENT, max_size=6), _HOST)
def test_allowed_iff_some_allow_applies_and_no_deny_does(statements: list[dict[str, Any]], host: str | None) -> None:
    def applies(statement: dict[str, Any]) -> bool:
        return decide([statement | {"Effect": "Allow"}], host)

    allow = any(applies(s) for s in statements if s["Effect"] == "Allow")
    deny = any(applies(s) for s in statements if s["Effect"] == "Deny")
    assert decide(statements, host) is (allow and not deny)


@given(st.lists(_STATEMENT, max_size=6), _HOST, st.randoms())
def test_order_and_splitting_into_policies_do_not_matter(
    statements: list[dict[str, Any]], host: str | None, rng: Any
) -> None:
    shuffled = list(statements)
    rng.shuffle(shuffled)
    split = [policy([s]) for s in shuffled]
    context = {} if host is None else {KEY: host}
    assert evaluate(split, ACTION, ARN, context).allowed is decide(statements, host)


@given(st.lists(_STATEMENT, max_size=6), _HOST)
def test_an_unconditional_deny_always_wins(statements: list[dict[str, Any]], host: str | None) -> None:
    deny = {"Sid": "DenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}
    context = {} if host is None else {KEY: host}
    decision = evaluate([policy([*statements, deny])], ACTION, ARN, context)
    assert not decision.allowed and decision.explicit_deny


@given(st.lists(_STATEMENT.map(lambda s: s | {"Effect": "Deny"}), max_size=6), _HOST)
def test_without_an_allow_everything_is_denied(statements: list[dict[str, Any]], host: str | None) -> None:
    assert not decide(statements, host)
    assert evaluate([], ACTION, ARN, {}).allowed is False
