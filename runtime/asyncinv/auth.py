"""Coserve.Auth for InvokeEndpointAsync: the request signed as boto3 signs (SigV4), then IAM policies deciding
`sagemaker:InvokeEndpointAsync` (the action IAM names for this operation) on the endpoint's ARN.

The body (at most 128,000 bytes inline) is read before the signature is checked, and nothing about endpoints is
answered before both checks pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import Scope

from runtime.auth import Authenticator
from runtime.errors import SageMakerError

ACTION = "sagemaker:InvokeEndpointAsync"
# (ASGI scope, endpoint name, body) -> the error that refuses the request, or None to let it through.
AsyncGuard = Callable[[Scope, str, bytes], SageMakerError | None]


def make_async_guard(auth: Authenticator | None) -> AsyncGuard | None:
    """No Coserve.Auth section: no guard, as for InvokeEndpoint."""
    if auth is None:
        return None

    def guard(scope: Scope, endpoint: str, body: bytes) -> SageMakerError | None:
        try:
            # The path and query as they came over the wire: SigV4 signed those bytes, not a decoded form.
            pending = auth.begin(
                scope["method"],
                scope["raw_path"].decode("latin-1"),
                scope["query_string"].decode("latin-1"),
                Headers(scope=scope),
            )
            pending.finish(hashlib.sha256(body).hexdigest())
            auth.authorize(pending.principal, endpoint, None, ACTION)
        except SageMakerError as exc:
            return exc
        return None

    return guard
