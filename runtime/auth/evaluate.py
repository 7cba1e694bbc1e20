"""IAM policy evaluation for one principal: an explicit Deny wins, then an Allow, else deny."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runtime.auth.matching import like_any
from runtime.auth.policy import Policy, Statement


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # The deciding statement's Sid or position; None for the default deny (nothing allowed it).
    statement: str | None = None

    @property
    def explicit_deny(self) -> bool:
        return not self.allowed and self.statement is not None


def evaluate(policies: Sequence[Policy], action: str, resource: str, context: Mapping[str, str]) -> Decision:
    """Decide `action` on `resource` given the request `context` (condition key -> value)."""
    keys = {key.lower(): value for key, value in context.items()}
    allow: Statement | None = None
    for policy in policies:
        for statement in policy.statements:
            if not _applies(statement, action, resource, keys):
                continue
            if statement.effect == "Deny":
                return Decision(allowed=False, statement=statement.label)
            allow = allow or statement
    if allow is None:
        return Decision(allowed=False)
    return Decision(allowed=True, statement=allow.label)


def _applies(statement: Statement, action: str, resource: str, context: Mapping[str, str]) -> bool:
    # Action names are case-insensitive in IAM; ARNs and condition values are not.
    if like_any(statement.actions, action, fold=True) == statement.not_action:
        return False
    if like_any(statement.resources, resource) == statement.not_resource:
        return False
    return all(condition.holds(context) for condition in statement.conditions)
