"""AWS Signature Version 4, server side: parse what the client sent and recompute its signature.

The canonical request is built the way botocore's `SigV4Auth` builds it for a non-S3 service,
which tests/runtime/auth proves against botocore itself: the wire path has dot segments and empty
segments removed and is then percent-encoded a second time, the query pairs are sorted as
sent, header values are whitespace-collapsed and repeated headers joined with ",".
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from runtime.errors import InvalidSignatureException

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP = "%Y%m%dT%H%M%SZ"
_PARAMETERS = ("Credential", "SignedHeaders", "Signature")


@dataclass(frozen=True)
class Authorization:
    """The parsed `Authorization` header. The Credential scope is key/date/region/service/term."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def parse_authorization(value: str) -> Authorization:
    """The parsed header; InvalidSignatureException naming what is missing or malformed."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        # Only the scheme is echoed: the rest could be someone's bearer token.
        raise InvalidSignatureException(f"Unsupported Authorization scheme {scheme[:32]!r}; expected {ALGORITHM}.")
    params = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    missing = [name for name in _PARAMETERS if not params.get(name)]
    if missing:
        raise InvalidSignatureException(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    parts = params["Credential"].split("/")
    if len(parts) != 5 or not all(parts):
        raise InvalidSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term."
        )
    if not is_hex_digest(params["Signature"]):  # compared with hmac.compare_digest, which takes ASCII only
        raise InvalidSignatureException("Signature must be 64 lowercase hexadecimal characters.")
    signed = tuple(sorted(h.strip().lower() for h in params["SignedHeaders"].split(";")))
    key_id, date, region, service, terminator = parts
    return Authorization(key_id, date, region, service, terminator, signed, params["Signature"])


def is_hex_digest(value: str) -> bool:
    """A SHA-256 in lowercase hex, as SigV4 writes signatures and payload hashes."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def request_time(headers: Mapping[str, Sequence[str]]) -> str:
    """The signing timestamp (`YYYYMMDDTHHMMSSZ`) from X-Amz-Date, else from Date as botocore does."""
    if amz := headers.get("x-amz-date"):
        try:
            return datetime.strptime(amz[0], TIMESTAMP).strftime(TIMESTAMP)
        except ValueError:
            raise InvalidSignatureException(f"Invalid X-Amz-Date {amz[0][:40]!r}.") from None
    if date := headers.get("date"):
        try:
            return parsedate_to_datetime(date[0]).astimezone(UTC).strftime(TIMESTAMP)
        except (TypeError, ValueError):
            raise InvalidSignatureException(f"Invalid Date {date[0][:40]!r}.") from None
    raise InvalidSignatureException(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def canonical_uri(path: str) -> str:
    """The wire path without '.', '..' or empty segments, then percent-encoded once more."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            segments = segments[:-1]
        elif segment not in ("", "."):
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return quote("/" + "/".join(segments) + trailing, safe="/~")


def canonical_query(query: str) -> str:
    """Pairs sorted by name then value, left encoded as sent (botocore encodes them already)."""
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    lines = [f"{name}:{','.join(' '.join(v.split()) for v in headers[name])}" for name in signed_headers]
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def signature(secret: str, auth: Authorization, timestamp: str, canonical: str) -> str:
    """HMAC chain over the date, region and service of the scope the client signed for."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    string_to_sign = "\n".join([ALGORITHM, timestamp, auth.scope, digest])
    key = f"AWS4{secret}".encode()
    for part in (auth.date, auth.region, auth.service, auth.terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
