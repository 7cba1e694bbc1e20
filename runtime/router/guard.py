"""Who may invoke what: SigV4 authentication and IAM-style policies in front of the router."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import Scope

from runtime.auth import Authenticator
from runtime.errors import SageMakerError
from runtime.router.app import BodyCheck, Guard


def make_guard(auth: Authenticator | None) -> Guard | None:
    """No Coserve.Auth section: no guard (the CLI then keeps the front door on loopback)."""
    if auth is None:
        return None

    def guard(scope: Scope, headers: Headers, endpoint: str, target: str | None) -> BodyCheck | SageMakerError:
        # The path and query as they came over the wire: SigV4 signed those bytes, not a decoded form.
        # The authenticator raises its refusals; here, at the router's edge, they become values.
        try:
            pending = auth.begin(
                scope["method"], scope["raw_path"].decode("latin-1"), scope["query_string"].decode("latin-1"), headers
            )
        except SageMakerError as exc:
            return exc
        finish = _returning(pending.finish)
        try:
            auth.authorize(pending.principal, endpoint, target)
        except SageMakerError as exc:
            return BodyCheck(_refuse_once_proven(finish, exc), keep_body=False)
        return BodyCheck(finish)

    return guard


def _returning(finish: Callable[[str], None]) -> Callable[[str], SageMakerError | None]:
    """The signature check on the body's hash, its refusal returned instead of raised."""

    def check(digest: str) -> SageMakerError | None:
        try:
            finish(digest)
        except SageMakerError as exc:
            return exc
        return None

    return check


def _refuse_once_proven(
    finish: Callable[[str], SageMakerError | None], denied: SageMakerError
) -> Callable[[str], SageMakerError | None]:
    """A policy denial is known before the body and told only after the signature: a caller who has a key id but
    not its secret must not learn what the policy allows. The body is hashed as it streams, never kept."""

    def refuse(digest: str) -> SageMakerError:
        return finish(digest) or denied  # InvalidSignatureException first, for a forged request

    return refuse


PageGuard = Callable[[Scope, Headers], None]
PAGE_ACTION = "sagemaker:DescribeEndpoint"  # reading an endpoint's state and figures, as IAM names it


def make_page_guard(auth: Authenticator | None, endpoint_name: str) -> PageGuard | None:
    """GET /metrics and /coserve/status under Coserve.Auth: signed, by a principal whose policies allow
    sagemaker:DescribeEndpoint on the endpoint. Coserve.Server.StatusListen serves them unsigned on loopback."""
    if auth is None:
        return None

    def guard(scope: Scope, headers: Headers) -> None:
        pending = auth.begin(
            scope["method"], scope["raw_path"].decode("latin-1"), scope["query_string"].decode("latin-1"), headers
        )
        pending.finish(_EMPTY_SHA256)  # a GET has no body
        auth.authorize(pending.principal, endpoint_name, None, PAGE_ACTION)

    return guard


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
