"""s3:// URLs through boto3: HeadObject names the bytes, the transfer manager fetches ranges in parallel."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, BinaryIO

import boto3  # type: ignore[import-untyped]
from boto3.s3.transfer import TransferConfig, create_transfer_manager  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
)
from s3transfer.exceptions import RetriesExceededError  # type: ignore[import-untyped]
from s3transfer.subscribers import BaseSubscriber  # type: ignore[import-untyped]

from runtime.storage.settings import ArtifactError, StorageSettings, TransientError
from runtime.storage.source import Identity

S3Client = Any  # boto3 ships no types; the client is duck-typed everywhere else too
TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
     "InternalError", "ServiceUnavailable", "503", "500"}
)  # fmt: skip
# Parallel ranged GETs: 16 MiB parts keep per-request overhead small on multi-GB artifacts.
TRANSFER = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=8)
SINGLE_PART_MD5 = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


def make_client(settings: StorageSettings) -> S3Client:
    """An S3 client on the standard credential chain; botocore reads AWS_ENDPOINT_URL(_S3) itself."""
    # One retry policy in one place (runtime.storage.retry), so "after N attempts" is true.
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=16,
        connect_timeout=10,  # botocore's 60 s would stretch max_attempts into minutes
    )
    if settings.s3_addressing_style:
        config = config.merge(Config(s3={"addressing_style": settings.s3_addressing_style}))
    return boto3.session.Session().client("s3", endpoint_url=settings.s3_endpoint_url, config=config)


def split_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ArtifactError(url, "S3 URL must name a bucket and a key (s3://bucket/key)", permanent=True)
    return bucket, key


class _Sizes(BaseSubscriber):  # type: ignore[misc]
    """Hands the size and ETag from our HeadObject to the transfer manager (no second HEAD; the
    ETag turns into If-Match on every ranged GET, so a replaced object fails instead of mixing)."""

    def __init__(self, identity: Identity, etag: str, progress: Callable[[int], None]) -> None:
        self._identity, self._etag, self._progress = identity, etag, progress

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._identity.size)
        future.meta.provide_object_etag(self._etag)

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._progress(bytes_transferred)


class S3Source:
    def __init__(self, url: str, client: Callable[[], S3Client]) -> None:
        self.url = url
        self._client = client
        self._etag = ""

    def identify(self) -> Identity:
        bucket, key = split_url(self.url)
        try:
            head = self._client().head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._explain(exc, bucket, key) from exc
        self._etag = head["ETag"]
        size = int(head["ContentLength"])
        # SSE-KMS and SSE-C ETags are not the md5 of the content.
        encrypted = str(head.get("ServerSideEncryption", "")).startswith("aws:kms")
        match = SINGLE_PART_MD5.match(self._etag)
        md5 = match.group(1).lower() if match and not encrypted and "SSECustomerAlgorithm" not in head else None
        return Identity(key=f"s3 etag={self._etag} size={size}", size=size, md5=md5)

    def download(self, identity: Identity, out: BinaryIO, progress: Callable[[int], None]) -> str | None:
        bucket, key = split_url(self.url)
        try:
            with create_transfer_manager(self._client(), TRANSFER) as manager:
                subscriber = _Sizes(identity, self._etag, progress)
                manager.download(bucket, key, out, subscribers=[subscriber]).result()
        except Exception as exc:
            raise self._explain(exc, bucket, key) from exc
        return None

    def _explain(self, exc: Exception, bucket: str, key: str) -> Exception:
        """Turn a boto error into TransientError or a permanent ArtifactError naming the cause."""
        if isinstance(exc, RetriesExceededError | ConnectionError | HTTPClientError):
            return TransientError(str(getattr(exc, "last_exception", None) or exc))
        if isinstance(exc, NoCredentialsError):
            return ArtifactError(self.url, f"no AWS credentials found: {exc}", permanent=True)
        if isinstance(exc, ArtifactError | TransientError):
            return exc
        if not isinstance(exc, ClientError):
            return ArtifactError(self.url, f"{type(exc).__name__}: {exc}", permanent=True)
        error = exc.response.get("Error", {})
        code, status = str(error.get("Code", "")), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("PreconditionFailed", "412"):
            # If-Match failed: the object was replaced mid-download. Retrying this step would ask
            # for the old ETag again; the caller's next materialize() starts from a fresh HEAD.
            return ArtifactError(self.url, "object changed while downloading", permanent=False)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientError(f"{code}: {error.get('Message', '')}")
        if code.isdigit():
            # HEAD responses carry no body, so "404"/"403" is all they say; a one-byte GET asks the
            # store for the real code (NoSuchBucket vs NoSuchKey, InvalidAccessKeyId, ...).
            try:
                self._client().get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
            except ClientError as detail:
                error = detail.response.get("Error", {})
            except Exception:
                pass
        return ArtifactError(
            self.url, f"{error.get('Code', code)}: {error.get('Message', '')}".rstrip(": "), permanent=True
        )
