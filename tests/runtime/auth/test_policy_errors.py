"""Malformed policies and principals fail at start-up, every problem named at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.auth import PolicyError, load_principals, parse_policy
from tests.runtime.auth.boto_wire import SECRET

GOOD = {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*"}


def problems_of(doc: Any) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(doc)
    assert isinstance(caught.value, ValueError)
    return list(caught.value.problems)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Action": "sagemaker:*", "Resource": "*"}, "policy.Statement[0].Effect: must be 'Allow' or 'Deny', missing"),
        (GOOD | {"Effect": "Alow"}, "policy.Statement[0].Effect: must be 'Allow' or 'Deny', got \"Alow\""),
        (GOOD | {"Action": 7}, "policy.Statement[0].Action: must be a string or a non-empty list of strings, got 7"),
        (GOOD | {"Action": []}, "policy.Statement[0].Action: must be a string or a non-empty list"),
        (GOOD | {"Action": "InvokeEndpoint"}, 'policy.Statement[0].Action: invalid action "InvokeEndpoint"'),
        (GOOD | {"NotAction": "s3:*"}, "Action: exactly one of Action or NotAction is required, both given"),
        (
            {"Effect": "Allow", "Action": "sagemaker:*"},
            "Resource: exactly one of Resource or NotResource is required, missing",
        ),
        (GOOD | {"Resource": "endpoint/x"}, 'policy.Statement[0].Resource: invalid resource "endpoint/x"'),
        (
            GOOD | {"Condition": {"StringMatches": {"sagemaker:TargetContainerHostname": "a"}}},
            'policy.Statement[0].Condition: unsupported condition operator "StringMatches"',
        ),
        (
            GOOD | {"Condition": {"ForAnyValue:StringLike": {"sagemaker:TargetContainerHostname": "a"}}},
            'unsupported condition operator "ForAnyValue:StringLike"',
        ),
        (
            GOOD | {"Condition": {"StringLike": {"sagemaker:TargetModel": "a"}}},
            'policy.Statement[0].Condition.StringLike: unsupported condition key "sagemaker:TargetModel"',
        ),
        (
            GOOD | {"Condition": {"StringLike": {"sagemaker:TargetContainerHostname": [1]}}},
            "Condition.StringLike.sagemaker:TargetContainerHostname: must be a string or a non-empty list",
        ),
        (GOOD | {"Condition": {"StringLike": {}}}, "Condition.StringLike: must be a non-empty object, got {}"),
        (GOOD | {"Condition": "x"}, 'policy.Statement[0].Condition: must be a JSON object, got "x"'),
        (GOOD | {"Principal": "*"}, "policy.Statement[0]: unknown field 'Principal'"),
        (GOOD | {"Sid": 3}, "policy.Statement[0].Sid: must be a string, got 3"),
        ("nope", 'policy.Statement[0]: must be a JSON object, got "nope"'),
        (GOOD | {1: "x"}, "policy.Statement[0]: unknown field 1"),  # YAML keys need not be strings
        (GOOD | {"Condition": {True: {1: "a"}}}, "unsupported condition operator true"),
    ],
)
def test_each_statement_problem_names_field_and_value(statement: Any, expected: str) -> None:
    problems = problems_of({"Version": "2012-10-17", "Statement": [statement]})
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"Version": "2012-10-17"}, "policy.Statement: missing"),
        ({"Version": "2012-10-17", "Statement": "x"}, 'policy.Statement: must be an object or a list, got "x"'),
        (
            {"Version": "2020-01-01", "Statement": GOOD},
            'policy.Version: must be one of 2012-10-17, 2008-10-17, got "2020-01-01"',
        ),
        ({"Version": "2012-10-17", "Statement": GOOD, "Extra": 1}, "policy: unknown field 'Extra'"),
        ([GOOD], "policy: must be a JSON object, got [{"),
        ("{not json", "policy: not valid JSON"),
    ],
)
def test_each_document_problem_names_field_and_value(doc: Any, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(doc)), problems_of(doc)


def test_accepted_shapes() -> None:
    assert parse_policy({"Statement": GOOD}).version == "2008-10-17"  # IAM's default
    assert parse_policy(yaml.safe_load("{Version: 2012-10-17, Statement: []}")).version == "2012-10-17"
    assert len(parse_policy({"Version": "2008-10-17", "Statement": [GOOD, GOOD]}).statements) == 2
    assert parse_policy(json.dumps({"Version": "2012-10-17", "Statement": GOOD}))


def test_all_problems_are_reported_together() -> None:
    doc = {"Version": "1", "Statement": [{"Effect": "Maybe", "Action": 1}, GOOD | {"Resource": "x"}]}
    with pytest.raises(PolicyError) as caught:
        parse_policy(doc)
    assert len(caught.value.problems) == 5, caught.value.problems
    assert all(p in str(caught.value) for p in caught.value.problems)


def principal(**fields: Any) -> dict[str, Any]:
    entry = {"AccessKeyId": "AKIDALICE", "SecretAccessKey": SECRET, "Name": "alice", "Policies": [{"Statement": GOOD}]}
    return {k: v for k, v in (entry | fields).items() if v is not None}


def load_problems(raw: Any, **kw: Any) -> str:
    with pytest.raises(PolicyError) as caught:
        load_principals(raw, **kw)
    assert SECRET not in str(caught.value)
    return str(caught.value)


def test_principal_problems_name_principal_policy_statement_field_and_value() -> None:
    bad = {"Version": "2012-10-17", "Statement": [GOOD, GOOD | {"Effect": "Alow"}]}
    message = load_problems(
        [principal(), principal(AccessKeyId="AKIDBOB", Name="bob", Policies=[{"Statement": GOOD}, bad])]
    )
    assert "principals[1] 'bob': Policies[1].Statement[1].Effect: must be 'Allow' or 'Deny', got \"Alow\"" in message


def test_problems_across_principals_are_all_listed() -> None:
    message = load_problems([principal(AccessKeyId="bad/id"), principal(Name="x", Policies="nope")])
    assert "principals[0] 'alice'.AccessKeyId: must be 1-128 letters, digits or _, got \"bad/id\"" in message
    assert "principals[1] 'x'.Policies: must be a list of policy documents, got \"nope\"" in message


def test_duplicates_and_unknown_fields_are_refused() -> None:
    message = load_problems([principal(), principal(Name="other", Secret="x")])
    assert "duplicate AccessKeyId 'AKIDALICE'" in message
    assert "principals[1] 'other': unknown field 'Secret'" in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"SecretAccessKey": None}, "exactly one of SecretAccessKey, SecretAccessKeyFile, SecretAccessKeyEnv"),
        ({"SecretAccessKeyEnv": "X"}, "exactly one of SecretAccessKey, SecretAccessKeyFile"),
        ({"SecretAccessKey": ""}, "'alice'.SecretAccessKey: must be a non-empty string"),
        (
            {"SecretAccessKey": None, "SecretAccessKeyEnv": "COSERVE_TEST_UNSET"},
            "environment variable 'COSERVE_TEST_UNSET' is unset or empty",
        ),
        ({"SecretAccessKey": None, "SecretAccessKeyFile": "missing.key"}, "SecretAccessKeyFile: cannot read"),
    ],
)
def test_secret_source_problems(fields: dict[str, Any], expected: str, tmp_path: Path) -> None:
    assert expected in load_problems([principal(**fields)], base_dir=tmp_path)


def test_secret_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "alice.key").write_text(SECRET + "\n")
    monkeypatch.setenv("COSERVE_TEST_BOB_SECRET", "bob-secret")
    alice, bob = load_principals(
        [
            principal(SecretAccessKey=None, SecretAccessKeyFile="alice.key"),
            principal(
                AccessKeyId="AKIDBOB", Name=None, SecretAccessKey=None, SecretAccessKeyEnv="COSERVE_TEST_BOB_SECRET"
            ),
        ],
        base_dir=tmp_path,
    )
    assert alice.secret_access_key == SECRET
    assert bob.secret_access_key == "bob-secret"
    assert bob.name == "AKIDBOB"  # Name defaults to the key id
    assert SECRET not in repr(alice) and "bob-secret" not in str(bob)
    assert alice.policies[0].statements[0].label == "Policies[0].Statement[0]"
