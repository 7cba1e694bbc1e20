"""IAM string matching: the wildcard matcher and the condition operators built on it.

IAM wildcards are `*` (any run of characters, empty included) and `?` (exactly one character);
every other character, `[` included, is literal, which is why `fnmatch` does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

TARGET_CONTAINER_HOSTNAME = "sagemaker:targetcontainerhostname"
# Condition keys are case-insensitive in IAM, so they are stored and looked up in lower case.
SUPPORTED_KEYS = frozenset({TARGET_CONTAINER_HOSTNAME})


def like(pattern: str, value: str) -> bool:
    """True when `value` matches the IAM wildcard `pattern`, case-sensitively.

    A greedy scan that backs up to the last `*`: O(len(pattern) * len(value)) at worst, so a
    client-chosen header value cannot make it backtrack exponentially as a regex could.
    """
    p = v = 0
    star, resume = -1, 0
    while v < len(value):
        if p < len(pattern) and pattern[p] in ("?", value[v]) and pattern[p] != "*":
            p, v = p + 1, v + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume, p = p, v, p + 1
        elif star >= 0:
            resume += 1
            p, v = star + 1, resume
        else:
            return False
    return pattern[p:].strip("*") == ""


def like_any(patterns: Sequence[str], value: str, *, fold: bool = False) -> bool:
    """True when any pattern matches; `fold` makes it case-insensitive (IAM actions are)."""
    if fold:
        return any(like(p.lower(), value.lower()) for p in patterns)
    return any(like(p, value) for p in patterns)


def _equals(values: Sequence[str], actual: str) -> bool:
    return actual in values


def _equals_ignore_case(values: Sequence[str], actual: str) -> bool:
    return actual.casefold() in {v.casefold() for v in values}


# Each positive operator with its negation. A negated operator holds when no value matches.
_POSITIVE: dict[str, Callable[[Sequence[str], str], bool]] = {
    "StringEquals": _equals,
    "StringEqualsIgnoreCase": _equals_ignore_case,
    "StringLike": like_any,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
}
OPERATORS = frozenset(_POSITIVE) | frozenset(_NEGATED)


@dataclass(frozen=True)
class Condition:
    """One `operator: {key: values}` test; `if_exists` is the `...IfExists` suffix."""

    operator: str
    key: str
    values: tuple[str, ...]
    if_exists: bool = False

    def holds(self, context: Mapping[str, str]) -> bool:
        """IAM semantics for a key absent from the request context (e.g. a Serial endpoint
        has no target hostname): a positive operator does not match, a negated one does, and
        `IfExists` makes either match."""
        actual = context.get(self.key)
        if actual is None:
            return self.if_exists or self.operator in _NEGATED
        positive = _NEGATED.get(self.operator, self.operator)
        matched = _POSITIVE[positive](self.values, actual)
        return not matched if self.operator in _NEGATED else matched
