"""Checks a SigV4-signed request against one principal's secret, in the order AWS reports them.

Decisions taken here:
- The credential scope must name the service `sagemaker`; its region is accepted whatever it
  is (the secret is what proves identity), but policies see ARNs in the configured region.
- Every `x-amz-*` and `x-amzn-sagemaker-*` header present must be signed: the target hostname
  decides authorization, so a replayed request must not be able to change it.
- The body is always hashed: an `x-amz-content-sha256` of `UNSIGNED-PAYLOAD`, or any value but
  the body's hash, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from runtime.auth import sigv4
from runtime.errors import InvalidSignatureException

logger = logging.getLogger("runtime.auth")

SERVICE = "sagemaker"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class Request(NamedTuple):
    method: str
    path: str  # as on the wire, still percent-encoded
    query: str  # as on the wire
    headers: Mapping[str, Sequence[str]]  # lower-case name -> every value sent
    body: bytes


def verify(auth: sigv4.Authorization, secret: str, request: Request, now: datetime, max_skew_s: float) -> None:
    """Raise InvalidSignatureException unless `secret` signed `request` within `max_skew_s` of `now`."""
    timestamp = precheck(auth, request.headers, now, max_skew_s)
    check_signature(auth, secret, request, timestamp, hashlib.sha256(request.body).hexdigest())


def precheck(auth: sigv4.Authorization, headers: Mapping[str, Sequence[str]], now: datetime, max_skew_s: float) -> str:
    """Everything that needs neither the secret nor the body, in AWS's order; the signing timestamp."""
    _check_scope(auth)
    timestamp = sigv4.request_time(headers)
    _check_signed_headers(auth.signed_headers, headers)
    if auth.date != timestamp[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    _check_skew(timestamp, now, max_skew_s)
    claimed = headers.get("x-amz-content-sha256")
    if claimed and not sigv4.is_hex_digest(claimed[0]):  # UNSIGNED-PAYLOAD included: the body is always hashed
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header must be the body's SHA-256.")
    return timestamp


def check_signature(auth: sigv4.Authorization, secret: str, request: Request, timestamp: str, payload: str) -> None:
    """The signature over the request whose body hashes to `payload` (hex SHA-256, computed as it streamed)."""
    method, path, query, headers, _ = request
    claimed = headers.get("x-amz-content-sha256")
    if claimed and claimed[0] != payload:
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    canonical = sigv4.canonical_request(method, path, query, headers, auth.signed_headers, payload)
    if not hmac.compare_digest(sigv4.signature(secret, auth, timestamp, canonical), auth.signature):
        logger.debug("canonical request expected from %s:\n%s", auth.access_key_id, canonical)
        raise InvalidSignatureException(_MISMATCH)


def _check_scope(auth: sigv4.Authorization) -> None:
    if auth.service != SERVICE:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if auth.terminator != "aws4_request":
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{auth.terminator}'. "
        )


def _check_signed_headers(signed: Sequence[str], headers: Mapping[str, Sequence[str]]) -> None:
    if "host" not in signed:
        raise InvalidSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed:
        if name not in headers:
            raise InvalidSignatureException(f"Signed header '{name}' is missing from the request.")
    for name in headers:
        if name.startswith(("x-amz-", "x-amzn-sagemaker-")) and name not in signed:
            raise InvalidSignatureException(f"'{name}' must be a 'SignedHeader' in the AWS Authorization.")


def _check_skew(timestamp: str, now: datetime, max_skew_s: float) -> None:
    """AWS's wording, so that a client's clock problem reads the same as against AWS."""
    signed = datetime.strptime(timestamp, sigv4.TIMESTAMP).replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    skew = timedelta(seconds=max_skew_s)
    at, window = now.strftime(sigv4.TIMESTAMP), f"{max_skew_s / 60:g} min."
    if signed < now - skew:
        earliest = (now - skew).strftime(sigv4.TIMESTAMP)
        raise InvalidSignatureException(
            f"Signature expired: {timestamp} is now earlier than {earliest} ({at} - {window})"
        )
    if signed > now + skew:
        latest = (now + skew).strftime(sigv4.TIMESTAMP)
        raise InvalidSignatureException(
            f"Signature not yet current: {timestamp} is still later than {latest} ({at} + {window})"
        )
