"""ArtifactStore: ModelDataUrl -> verified blob in the shared cache -> read-only model directory.

The blob cache is shared (see cache.py). Each archive is unpacked once per content into
`artifacts/trees/<sha256>`; a container's `models/<name>` is a hardlink copy of that tree, so
containers with the same artifact share the bytes on disk while each gets its own directory.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runtime.storage.cache import BlobCache
from runtime.storage.extract import ArchiveError, Limits
from runtime.storage.http import HttpSource
from runtime.storage.local import LocalSource
from runtime.storage.progress import ProgressBoard
from runtime.storage.retry import with_retry
from runtime.storage.s3 import S3Source, make_client
from runtime.storage.settings import ArtifactError, StorageSettings, TransientError
from runtime.storage.source import Identity, Source, file_digests
from runtime.storage.trees import build_tree, link_copy
from runtime.storage.unpack import unpack

log = logging.getLogger("runtime.storage")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class StoreStats:
    hits: int
    misses: int
    bytes_fetched: int


class ArtifactStore:
    """Synchronous and thread-safe; several processes may share one cache_dir."""

    def __init__(self, settings: StorageSettings, *, s3_client_factory: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self._s3_client_factory = s3_client_factory or (lambda: make_client(settings))
        self._s3_client: Any = None
        self._lock = threading.Lock()
        self._hits = self._misses = self._bytes = 0
        self._cache = BlobCache(settings.cache_dir / "artifacts")
        self._models = settings.cache_dir / "models"
        self._board = ProgressBoard(settings.progress)

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(self._hits, self._misses, self._bytes)

    def fetch(self, url: str) -> Path:
        """Make sure the artifact is in the cache; return the cached .tar.gz (read-only)."""
        return self._cache.blob(self._fetch(url))

    def materialize(self, url: str, name: str) -> Path:
        """Fetch, unpack safely and return the read-only model directory for container `name`."""
        if not SAFE_NAME.match(name):
            raise ValueError(f"container name {name!r} is not a safe directory name")
        sha = self._fetch(url)
        tree = self._cache.trees / sha
        with self._cache.locked(f"tree {sha}"):
            if not tree.is_dir():
                self._unpack(url, sha, tree)
        return self._model_dir(name, sha, tree)

    def _fetch(self, url: str) -> str:
        self._cache.prepare()
        source = self._source(url)
        identity = with_retry(self.settings, url, "identify", source.identify)
        with self._cache.locked(identity.key or f"url {url}"):
            sha = self._cache.lookup(identity.key, identity.size) if identity.key else None
            if sha is not None:
                log.info("cache hit %s -> sha256:%s", url, sha[:12])
                with self._lock:
                    self._hits += 1
                return sha
            sha, size = with_retry(self.settings, url, "download", lambda: self._download(source, identity))
            if identity.key:
                self._cache.remember(identity.key, sha, size)
            return sha

    def _download(self, source: Source, identity: Identity) -> tuple[str, int]:
        """One attempt: stream into a temp file, verify, rename to the content's name."""
        with self._cache.temp_file() as (tmp, f):
            with self._board.track(source.url, identity.size) as progress:
                sha = source.download(identity, f, progress)
            f.flush()
            size = os.fstat(f.fileno()).st_size
            if identity.size is not None and size != identity.size:
                raise TransientError(f"size mismatch: got {size} bytes, expected {identity.size}")
            if sha is None or identity.md5 is not None:
                sha, md5 = file_digests(str(tmp), identity.md5 is not None)
                if md5 != identity.md5:
                    raise TransientError(f"md5 mismatch: got {md5}, ETag says {identity.md5}")
            with self._lock:
                self._misses += 1
                self._bytes += size
            if not self._cache.blob(sha).exists():  # else: same bytes already cached under another name
                self._cache.commit(tmp, f, self._cache.blob(sha))
        return sha, size

    def _unpack(self, url: str, sha: str, tree: Path) -> None:
        limits = Limits(self.settings.max_unpacked_bytes, self.settings.max_files)
        start = time.monotonic()
        try:
            build_tree(tree, lambda tmp: unpack(self._cache.blob(sha), tmp, limits))
        except ArchiveError as exc:
            self._cache.evict(sha)  # a bad archive is not worth keeping; a fixed one has a new ETag
            raise ArtifactError(url, str(exc), permanent=True) from exc
        except OSError as exc:
            raise ArtifactError(url, f"cannot unpack: {exc}", permanent=False) from exc
        log.info("unpacked %s into %s in %.2fs", url, tree, time.monotonic() - start)

    def _model_dir(self, name: str, sha: str, tree: Path) -> Path:
        self._models.mkdir(parents=True, exist_ok=True)
        final, marker = self._models / name, self._models / f".{name}.sha256"
        with self._cache.locked(f"model {name}"):
            if final.is_dir() and marker.is_file() and marker.read_text() == sha:
                return final
            build_tree(final, lambda tmp: link_copy(tree, tmp))
            with self._cache.temp_file(self._models) as (tmp, f):
                f.write(sha.encode())
                self._cache.commit(tmp, f, marker)
        return final

    def _source(self, url: str) -> Source:
        scheme = urlsplit(url).scheme
        if scheme == "s3":
            return S3Source(url, self._s3)
        if scheme in ("http", "https"):
            return HttpSource(url)
        if scheme in ("file", ""):
            return LocalSource(url)
        raise ArtifactError(url, f"unsupported URL scheme {scheme!r}", permanent=True)

    def _s3(self) -> Any:
        with self._lock:  # boto3 clients are thread-safe once made, but making one is not
            if self._s3_client is None:
                self._s3_client = self._s3_client_factory()
            return self._s3_client
