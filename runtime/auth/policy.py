"""IAM policy documents: their typed form, and the one place that validates the JSON.

Validation collects every problem instead of stopping at the first, so an operator fixes a
deployment file in one pass. Each problem names where it is, the field and the bad value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from runtime.auth.matching import OPERATORS, SUPPORTED_KEYS, Condition

VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"})
# "*", or "<service>:<pattern>" as IAM requires for the Action element.
_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+")


class PolicyError(ValueError):
    """Every problem found in the principals and their policies, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n  ".join(["invalid principals or policies:", *self.problems]))


@dataclass(frozen=True)
class Statement:
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    not_action: bool = False
    not_resource: bool = False
    # The Sid if it has one, else its position such as "Policies[0].Statement[1]"; for logs.
    label: str = ""


@dataclass(frozen=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]


def show(value: object) -> str:
    """The bad value as JSON, cut short so one huge value cannot flood the error."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_policy(doc: object, where: str = "policy") -> Policy:
    """The typed policy, or PolicyError listing everything wrong with `doc`."""
    problems: list[str] = []
    policy = check_policy(doc, where, problems)
    if problems:
        raise PolicyError(problems)
    return policy


def check_policy(doc: object, where: str, problems: list[str]) -> Policy:
    """Parse `doc`, appending problems; the result is only meaningful when none were added."""
    if isinstance(doc, str):  # a policy pasted as JSON text, as the IAM console shows it
        try:
            doc = json.loads(doc)
        except ValueError as exc:
            problems.append(f"{where}: not valid JSON ({exc})")
            return Policy("", ())
    if not isinstance(doc, dict):
        problems.append(f"{where}: must be a JSON object, got {show(doc)}")
        return Policy("", ())
    for extra in sorted(set(doc) - {"Version", "Id", "Statement"}, key=str):
        problems.append(f"{where}: unknown field {extra!r}")
    version = doc.get("Version", "2008-10-17")  # IAM's default when Version is left out
    if isinstance(version, date):  # YAML reads an unquoted 2012-10-17 as a date
        version = version.isoformat()
    if version not in VERSIONS:
        problems.append(f"{where}.Version: must be one of {', '.join(VERSIONS)}, got {show(version)}")
    raw = doc.get("Statement")
    if raw is None:
        problems.append(f"{where}.Statement: missing")
    elif not isinstance(raw, dict | list):
        problems.append(f"{where}.Statement: must be an object or a list, got {show(raw)}")
    items: list[Any] = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    statements = [_statement(s, f"{where}.Statement[{i}]", problems) for i, s in enumerate(items)]
    return Policy(str(version), tuple(statements))


def _statement(doc: object, where: str, problems: list[str]) -> Statement:
    if not isinstance(doc, dict):
        problems.append(f"{where}: must be a JSON object, got {show(doc)}")
        return Statement("Deny", (), ())
    for extra in sorted(set(doc) - _STATEMENT_FIELDS, key=str):
        problems.append(f"{where}: unknown field {extra!r} (not allowed in an identity policy)")
    sid = doc.get("Sid")
    if sid is not None and not isinstance(sid, str):
        problems.append(f"{where}.Sid: must be a string, got {show(sid)}")
    effect = doc.get("Effect")
    if effect not in ("Allow", "Deny"):
        got = "missing" if effect is None else f"got {show(effect)}"
        problems.append(f"{where}.Effect: must be 'Allow' or 'Deny', {got}")
    actions, not_action = _either(doc, "Action", where, problems, _ACTION.fullmatch)
    resources, not_resource = _either(doc, "Resource", where, problems, lambda r: r == "*" or r.startswith("arn:"))
    return Statement(
        effect="Deny" if effect == "Deny" else "Allow",
        actions=actions,
        resources=resources,
        conditions=_conditions(doc.get("Condition"), f"{where}.Condition", problems),
        not_action=not_action,
        not_resource=not_resource,
        label=sid if isinstance(sid, str) and sid else where,
    )


def _either(
    doc: dict[str, Any], field: str, where: str, problems: list[str], valid: Callable[[str], object]
) -> tuple[tuple[str, ...], bool]:
    """`field` or `Not<field>`: exactly one must be present; returns (values, negated)."""
    present = [name for name in (field, f"Not{field}") if name in doc]
    if len(present) != 1:
        which = "missing" if not present else "both given"
        problems.append(f"{where}.{field}: exactly one of {field} or Not{field} is required, {which}")
        return (), False
    name = present[0]
    values = strings(doc[name], f"{where}.{name}", problems)
    for value in values:
        if not valid(value):
            problems.append(f"{where}.{name}: invalid {field.lower()} {show(value)}")
    return values, name.startswith("Not")


def strings(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    """A string or a non-empty list of strings, as IAM accepts for most elements."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(f"{where}: must be a string or a non-empty list of strings, got {show(value)}")
    return ()


def _conditions(doc: object, where: str, problems: list[str]) -> tuple[Condition, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, dict):
        problems.append(f"{where}: must be a JSON object, got {show(doc)}")
        return ()
    found: list[Condition] = []
    for operator, block in doc.items():
        base = str(operator).removesuffix("IfExists")  # YAML keys need not be strings
        if base not in OPERATORS:
            problems.append(
                f"{where}: unsupported condition operator {show(operator)}"
                f" (supported: {', '.join(sorted(OPERATORS))}, each optionally with IfExists)"
            )
            continue
        if not isinstance(block, dict) or not block:
            problems.append(f"{where}.{operator}: must be a non-empty object, got {show(block)}")
            continue
        for key, values in block.items():
            if str(key).lower() not in SUPPORTED_KEYS:
                problems.append(
                    f"{where}.{operator}: unsupported condition key {show(key)}"
                    " (supported: sagemaker:TargetContainerHostname)"
                )
            vals = strings(values, f"{where}.{operator}.{key}", problems)
            found.append(Condition(base, str(key).lower(), vals, operator != base))
    return tuple(found)
