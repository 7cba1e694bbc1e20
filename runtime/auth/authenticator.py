"""Who is calling (SigV4, as boto3 signs) and may they invoke this container (IAM policies)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from runtime.auth import sigv4
from runtime.auth.evaluate import Decision, evaluate
from runtime.auth.matching import TARGET_CONTAINER_HOSTNAME
from runtime.auth.principals import Principal
from runtime.auth.verify import Request, check_signature, precheck
from runtime.errors import (
    AccessDeniedException,
    MissingAuthenticationTokenException,
    SageMakerError,
    UnrecognizedClientException,
)

logger = logging.getLogger("runtime.auth")

_BAD_TOKEN = "The security token included in the request is invalid."


class Authenticator:
    """Authenticates and authorizes front-door requests for one (region, account)."""

    def __init__(
        self,
        principals: Sequence[Principal],
        *,
        region: str = "us-east-1",
        account: str = "000000000000",
        max_skew_s: float = 300,
    ) -> None:
        self.principals = {p.access_key_id: p for p in principals}
        self.region = region
        self.account = account
        self.max_skew_s = max_skew_s

    def authenticate(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime | None = None,
    ) -> Principal:
        """The principal whose key signed this request, or the SageMakerError AWS would send.

        `path` and `query` are as on the wire (still percent-encoded: starlette's
        `scope["raw_path"]` and `scope["query_string"]`, decoded as latin-1). Repeated headers
        are joined when `headers.items()` yields every one, as starlette's Headers does.
        """
        pending = self.begin(method, path, query, headers, now)
        pending.finish(hashlib.sha256(body).hexdigest())
        return pending.principal

    def begin(
        self, method: str, path: str, query: str, headers: Mapping[str, str], now: datetime | None = None
    ) -> Pending:
        """Every check the head allows (header, key, scope, time): a body is read only after these pass.
        `Pending.finish` checks the signature once the body's hash is known."""
        lists: dict[str, list[str]] = {}
        for name, value in headers.items():
            lists.setdefault(name.lower(), []).append(value)
        if "authorization" not in lists:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        key_id = "-"
        try:
            auth = sigv4.parse_authorization(lists["authorization"][0])
            key_id = auth.access_key_id
            principal = self.principals.get(key_id)
            # coserve issues no session tokens, so a request carrying one cannot be valid.
            if principal is None or "x-amz-security-token" in lists:
                raise UnrecognizedClientException(_BAD_TOKEN)
            timestamp = precheck(auth, lists, now or datetime.now(UTC), self.max_skew_s)
        except SageMakerError as exc:
            _rejected(key_id, exc)
            raise
        return Pending(principal, auth, Request(method, path, query, lists, b""), timestamp)

    def authorize(
        self,
        principal: Principal,
        endpoint_name: str,
        target_hostname: str | None,
        action: str = "sagemaker:InvokeEndpoint",
    ) -> Decision:
        """The allowing Decision, or AccessDeniedException worded as IAM words it.

        A missing `target_hostname` (Serial mode, single container) leaves the condition key
        out of the request context, so StringLike on it fails and StringNotLike holds.
        """
        # AWS lower-cases the endpoint name in its ARN, so policies must name it in lower case.
        resource = f"arn:aws:sagemaker:{self.region}:{self.account}:endpoint/{endpoint_name.lower()}"
        context = {} if target_hostname is None else {TARGET_CONTAINER_HOSTNAME: target_hostname}
        decision = evaluate(principal.policies, action, resource, context)
        logger.log(
            logging.INFO if decision.allowed else logging.WARNING,
            "%s: principal=%s endpoint=%s container=%s action=%s statement=%s",
            "allow" if decision.allowed else "deny",
            principal.name,
            endpoint_name,
            target_hostname,
            action,
            decision.statement or "(none allows it)",
        )
        if decision.allowed:
            return decision
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.explicit_deny
            else f"because no identity-based policy allows the {action} action"
        )
        raise AccessDeniedException(
            f"User: {principal.arn(self.account)} is not authorized to perform: {action} on resource: {resource} {why}"
        )


def _rejected(key_id: str, exc: SageMakerError) -> None:
    # The key id travels in clear, so it may be logged; the secret never is.
    logger.warning("rejected: key=%s %s: %s", key_id, exc.code, exc.message)


@dataclass(frozen=True)
class Pending:
    """A request whose head passed: its signature is checked once the body's SHA-256 is known."""

    principal: Principal
    auth: sigv4.Authorization
    request: Request
    timestamp: str

    def finish(self, payload_sha256: str) -> None:
        try:
            check_signature(self.auth, self.principal.secret_access_key, self.request, self.timestamp, payload_sha256)
        except SageMakerError as exc:
            _rejected(self.auth.access_key_id, exc)
            raise
