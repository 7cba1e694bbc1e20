"""http:// and https:// URLs (presigned S3 URLs among them), through the standard library.

What names the bytes: a presigned link's query string (signature, expiry) changes on every presign
while the object does not, so the cache key is the URL without its query (scheme, host, path) plus
a validator the origin sends: a strong ETag, else Last-Modified, together with the size. They are asked
for with a HEAD; a presigned link is signed for GET only and refuses HEAD, so then with a GET of one
byte (`Range: bytes=0-0`: the size comes from Content-Range; a server that ignores Range is closed
after its headers). The download checks that its own validator is the one identified, so a changed
object is never remembered under the old one. With no validator (or only a weak ETag) the bytes are
downloaded each start and only their sha256 names them.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from http.client import HTTPResponse
from typing import BinaryIO, cast
from urllib.parse import urlsplit

from runtime.storage.settings import ArtifactError, TransientError
from runtime.storage.source import Identity, copy_hashing

TIMEOUT_S = 30.0
_TOTAL = re.compile(r"^bytes \d+-\d+/(\d+)$")


def _size(headers: Message, status: int) -> int | None:
    if status == 206:  # Content-Length is the one byte asked for; the whole is after the slash
        match = _TOTAL.match(headers.get("Content-Range") or "")
        return int(match.group(1)) if match else None
    value = headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _validator(headers: Message) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):  # a weak ETag promises equivalent content, not equal bytes
        return f"etag={etag}"
    modified = headers.get("Last-Modified")
    return f"last-modified={modified}" if modified else None


class HttpSource:
    """A tarball behind a plain GET; validators from a HEAD (or a one-byte GET) name the bytes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._expected: str | None = None  # the validator identify() saw, checked again by download()

    def identify(self) -> Identity:
        try:
            resp = self._open("HEAD")
        except ArtifactError:
            try:
                resp = self._open("GET", {"Range": "bytes=0-0"})
            except ArtifactError:
                return Identity(key=None, size=None)  # download() reports the real error
        with resp:
            size, validator = _size(resp.headers, resp.status), _validator(resp.headers)
        if validator is None or size is None:
            return Identity(key=None, size=size)
        self._expected = validator
        parts = urlsplit(self.url)
        where = f"{parts.scheme}://{parts.netloc}{parts.path}"
        return Identity(key=f"http {where} {validator} size={size}", size=size)

    def download(self, identity: Identity, out: BinaryIO, progress: Callable[[int], None]) -> str | None:
        with self._open("GET") as resp:
            got = _validator(resp.headers)
            if self._expected is not None and got != self._expected:
                raise TransientError(f"the object changed since it was identified ({self._expected}, now {got})")
            try:
                return copy_hashing(resp, out, progress)
            except (OSError, urllib.error.URLError) as exc:
                raise TransientError(f"connection lost while reading: {exc}") from exc

    def _open(self, method: str, headers: dict[str, str] | None = None) -> HTTPResponse:
        request = urllib.request.Request(self.url, method=method, headers=headers or {})
        try:
            return cast(HTTPResponse, urllib.request.urlopen(request, timeout=TIMEOUT_S))
        except urllib.error.HTTPError as exc:
            cause = f"HTTP {exc.code} {exc.reason}"
            exc.close()  # an HTTPError holds the response open
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransientError(cause) from exc
            raise ArtifactError(self.url, cause, permanent=True) from exc
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientError(f"cannot reach {urlsplit(self.url).netloc}: {reason}") from exc
