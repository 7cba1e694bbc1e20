"""Storage settings and the one error type that runtime.storage raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StorageSettings:
    """How artifacts are fetched, cached and unpacked; validated by runtime.config, frozen here."""

    cache_dir: Path
    """Shared volume root: the cache lives under `artifacts/`, per-container model dirs under `models/`."""
    s3_endpoint_url: str | None = None
    """S3 endpoint; when None, AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then boto's default."""
    s3_addressing_style: str | None = None
    """"path", "virtual" or "auto"; None lets botocore decide."""
    max_unpacked_bytes: int = 20 * 2**30
    """Refuse an archive once its decompressed stream passes this many bytes (zip-bomb guard)."""
    max_files: int = 100_000
    """Refuse an archive with more members than this."""
    max_attempts: int = 5
    """Attempts per network step before giving up on transient errors."""
    backoff_base_s: float = 0.5
    """First retry delay; doubles on each further attempt."""
    progress: bool | None = None
    """True: rich progress bar; False: log lines; None: a bar only when stderr is a TTY."""
    cache_max: int | float = 0.5
    """The cache's size budget: bytes (int), or a share of its volume's size (float, 0 < share <= 1)."""
    fetch_threads: int = 8
    """Objects of an S3 prefix fetched at once (each large one in parallel ranges besides)."""
    wheelhouse: Path | None = None
    """Where pip installs a container's code/requirements.txt from, and only there (--no-index)."""


class ArtifactError(Exception):
    """A model artifact could not be fetched or unpacked.

    `permanent` is True when retrying cannot help (missing key, bad credentials, unsafe archive);
    the message always starts with the URL so the caller only has to add the container name.
    """

    def __init__(self, url: str, cause: str, *, permanent: bool) -> None:
        super().__init__(f"{url}: {cause}")
        self.url = url
        self.cause = cause
        self.permanent = permanent


class TransientError(Exception):
    """Raised by a fetcher for a failure worth retrying (unreachable endpoint, 5xx, throttling)."""
