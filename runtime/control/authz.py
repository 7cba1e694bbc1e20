"""Coserve.Auth for control-plane calls: SigV4 as boto3 signs, then IAM policies by action and resource ARN.

The same principals and policies as InvokeEndpoint (runtime.auth): a policy allows, say,
`sagemaker:CreateEndpoint` on `arn:aws:sagemaker:REGION:ACCOUNT:endpoint/name`; list calls match `*`.
"""

from __future__ import annotations

import hashlib
import logging

from starlette.datastructures import Headers
from starlette.types import Scope

from runtime.auth import Authenticator, Principal, evaluate
from runtime.errors import AccessDeniedException

logger = logging.getLogger("runtime.control")


class SigV4Guard:
    """A ControlGuard over an Authenticator (runtime.auth.build.build_authenticator)."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def authenticate(self, scope: Scope, body: bytes) -> object:
        pending = self.auth.begin(
            scope["method"],
            scope["raw_path"].decode("latin-1"),
            scope["query_string"].decode("latin-1"),
            Headers(scope=scope),
        )
        pending.finish(hashlib.sha256(body).hexdigest())
        return pending.principal

    def authorize(self, caller: object, action: str, resource_arn: str) -> None:
        assert isinstance(caller, Principal)
        decision = evaluate(caller.policies, action, resource_arn, {})
        logger.log(
            logging.INFO if decision.allowed else logging.WARNING,
            "%s: principal=%s action=%s resource=%s statement=%s",
            "allow" if decision.allowed else "deny",
            caller.name,
            action,
            resource_arn,
            decision.statement or "(none allows it)",
        )
        if decision.allowed:
            return
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.explicit_deny
            else f"because no identity-based policy allows the {action} action"
        )
        raise AccessDeniedException(
            f"User: {caller.arn(self.auth.account)} is not authorized to perform: {action} on resource: "
            f"{resource_arn} {why}"
        )
