"""Reading an asynchronous request's input from S3 and writing its answer: blocking boto3 calls (run in threads).

The client is the project's own (`runtime.storage.s3.make_client`: the configured endpoint URL and addressing
style). Failures are sorted as the artifact fetcher sorts them: worth retrying, or permanent.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    ConnectionError,
    HTTPClientError,
)

from runtime.asyncinv.locations import split
from runtime.storage.s3 import TRANSIENT_CODES, S3Client


class S3Failure(Exception):
    """An S3 call failed; `transient` when trying again later may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def fetch(client: S3Client, uri: str, max_bytes: int) -> bytes:
    """The object at `uri`, refused when larger than `max_bytes`."""
    try:
        bucket, key = split(uri)
    except ValueError as exc:
        raise S3Failure(str(exc), transient=False) from exc
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
        size = int(answer["ContentLength"])
        if size > max_bytes:
            answer["Body"].close()
            raise S3Failure(f"The input at {uri} is {size} bytes, over the limit of {max_bytes}.", transient=False)
        data: bytes = answer["Body"].read()
        return data
    except S3Failure:
        raise
    except Exception as exc:
        raise _sorted(exc, f"Could not read the input at {uri}") from exc


def put(client: S3Client, uri: str, body: bytes, content_type: str | None) -> None:
    """Write `body` at `uri` (replacing what a crashed earlier attempt wrote there)."""
    bucket, key = split(uri)
    extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    except Exception as exc:
        raise _sorted(exc, f"Could not write {uri}") from exc


def _sorted(exc: Exception, what: str) -> S3Failure:
    if isinstance(exc, ConnectionError | HTTPClientError):
        return S3Failure(f"{what}: {exc}", transient=True)
    if not isinstance(exc, ClientError):
        return S3Failure(f"{what}: {type(exc).__name__}: {exc}", transient=False)
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    message = f"{what}: {code}: {error.get('Message', '')}".rstrip(": ")
    return S3Failure(message, transient=code in TRANSIENT_CODES or status >= 500)
