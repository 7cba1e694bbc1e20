"""http:// and https:// URLs (presigned S3 URLs among them), through the standard library."""

from __future__ import annotations

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


def _size(headers: Message) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


class HttpSource:
    """A tarball behind a plain GET; validators from a HEAD name the bytes when the server sends them."""

    def __init__(self, url: str) -> None:
        self.url = url

    def identify(self) -> Identity:
        # A presigned URL is signed for GET only, so a refused HEAD is not an error: the content
        # hash after download then names the bytes.
        try:
            with self._open("HEAD") as resp:
                headers = resp.headers
        except ArtifactError:
            return Identity(key=None, size=None)
        size = _size(headers)
        validator = headers.get("ETag") or headers.get("Last-Modified")
        if not validator or size is None:
            return Identity(key=None, size=size)
        # The query string carries the signature, which changes on every presign; the validator
        # belongs to the object at this scheme, host and path.
        parts = urlsplit(self.url)
        where = f"{parts.scheme}://{parts.netloc}{parts.path}"
        return Identity(key=f"http {where} validator={validator} size={size}", size=size)

    def download(self, identity: Identity, out: BinaryIO, progress: Callable[[int], None]) -> str | None:
        with self._open("GET") as resp:
            try:
                return copy_hashing(resp, out, progress)
            except (OSError, urllib.error.URLError) as exc:
                raise TransientError(f"connection lost while reading: {exc}") from exc

    def _open(self, method: str) -> HTTPResponse:
        request = urllib.request.Request(self.url, method=method)
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
