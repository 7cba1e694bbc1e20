"""ArtifactStore: ModelDataUrl -> verified blob in the shared cache -> read-only model directory.

The blob cache is shared (see cache.py). Each archive is unpacked once per content into
`artifacts/trees/<sha256>`; uncompressed S3 data (a prefix, or one object) is fetched object by object
into blobs and laid out as hardlinks in `artifacts/trees/data-<hash>` (prefix.py). A container's
`models/<name>` is a hardlink copy of its tree, so containers with the same artifact share the bytes
on disk while each gets its own directory. The cache is kept within its budget (budget.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runtime.storage.budget import CacheEntry, Janitor
from runtime.storage.cache import BlobCache
from runtime.storage.extract import ArchiveError, UnpackLimits
from runtime.storage.http import HttpSource
from runtime.storage.leases import Leases
from runtime.storage.local import LocalSource
from runtime.storage.prefix import check_entries, fill_tree, list_entries, tree_id
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
    size_bytes: int = 0  # the whole cache on the volume, as last measured (after each fetch or prune)
    evictions: int = 0  # artifacts this process evicted to stay within the budget


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
        self._janitor = Janitor(self._cache, self._models, settings.cache_dir / "pyenvs")
        self._leases = Leases(self._cache.leases)
        self._size = self._evictions = 0

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(self._hits, self._misses, self._bytes, self._size, self._evictions)

    def budget(self) -> int:
        """The size budget in bytes: as configured, or that share of the cache volume's size."""
        if isinstance(self.settings.cache_max, int):
            return self.settings.cache_max
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        vfs = os.statvfs(self.settings.cache_dir)
        return int(vfs.f_blocks * vfs.f_frsize * self.settings.cache_max)

    def start(self) -> None:
        """Sweep what a crash left and prune to the budget, unless another process is busy in the cache."""
        with self._cache.whole(exclusive=True, wait=False) as alone:
            if alone:
                self._janitor.sweep()
                self._prune_locked(self.budget())

    def prune(self, budget: int | None = None, wait: bool = True) -> list[CacheEntry] | None:
        """Evict to `budget` (default: the configured one); None when `wait` is off and the cache is busy."""
        with self._cache.whole(exclusive=True, wait=wait) as alone:
            return self._prune_locked(self.budget() if budget is None else budget) if alone else None

    def entries(self) -> list[CacheEntry]:
        with self._cache.whole(exclusive=True):
            return self._janitor.entries()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Hold off every prune (here and in other processes) while something is written into the volume."""
        with self._cache.whole(exclusive=False):
            yield

    def lease(self, name: str) -> None:
        """Claim model dir `name` for as long as this process runs it (until close()): while claimed,
        no prune, here or in another process, evicts the artifact it was made from."""
        self._leases.take(name)

    def close(self) -> None:
        """Give up this process's claims on its model dirs (a prune may then evict their artifacts)."""
        self._leases.close()

    def _prune_locked(self, budget: int) -> list[CacheEntry]:
        evicted = self._janitor.prune(budget)
        size = self._janitor.size()
        with self._lock:
            self._evictions += len(evicted)
            self._size = size
        return evicted

    def fetch(self, url: str) -> Path:
        """Make sure the artifact is in the cache; return the cached .tar.gz (read-only)."""
        with self._cache.whole(exclusive=False):
            return self._cache.blob(self._fetch(url))

    def materialize(self, url: str, name: str, layout: str = "tarball") -> Path:
        """Fetch, lay out safely and return the read-only model directory for container `name`.

        layout "tarball": `url` is a gzip tarball (any scheme); "prefix": every object under an s3://
        prefix; "object": one uncompressed s3:// object. lease(name) first to keep it from a prune."""
        if not SAFE_NAME.match(name):
            raise ValueError(f"container name {name!r} is not a safe directory name")
        with self._cache.whole(exclusive=False):
            tree = self._tarball_tree(url) if layout == "tarball" else self._data_tree(url, layout)
            final = self._model_dir(name, tree.name, tree)
        self.prune(wait=False)  # skipped while another materialize is under way: the last one prunes
        return final

    def _tarball_tree(self, url: str) -> Path:
        sha = self._fetch(url)
        tree = self._cache.trees / sha
        with self._cache.locked(f"tree {sha}"):
            if not tree.is_dir():
                self._unpack(url, sha, tree)
            self._record(tree.name, url, [sha])
        return tree

    def _data_tree(self, url: str, layout: str) -> Path:
        entries = with_retry(self.settings, url, "list", lambda: list_entries(url, layout, self._s3))
        try:
            check_entries(entries, UnpackLimits(self.settings.max_unpacked_bytes, self.settings.max_files))
        except ArchiveError as exc:
            raise ArtifactError(url, str(exc), permanent=True) from exc
        bucket = url.removeprefix("s3://").partition("/")[0]
        with ThreadPoolExecutor(self.settings.fetch_threads, thread_name_prefix="fetch-object") as pool:
            shas = list(pool.map(lambda e: self._fetch(f"s3://{bucket}/{e.key}"), entries))
        tree = self._cache.trees / tree_id(entries, shas)
        with self._cache.locked(f"tree {tree.name}"):
            if not tree.is_dir():
                blobs = [self._cache.blob(sha) for sha in shas]
                build_tree(tree, lambda tmp: fill_tree(tmp, entries, blobs))
                log.info("laid out %d objects of %s in %s", len(entries), url, tree)
            self._record(tree.name, url, shas)
        return tree

    def _record(self, tree_id: str, url: str, shas: list[str]) -> None:
        """Which blobs the tree came from, and (by the record's mtime) when it was last used."""
        record = self._cache.index / f"{tree_id}.json"
        if record.exists():
            os.utime(record)
            return
        with self._cache.temp_file(self._cache.index) as (tmp, f):
            f.write(json.dumps({"source": url, "blobs": sorted(set(shas))}).encode())
            self._cache.commit(tmp, f, record)

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
        limits = UnpackLimits(self.settings.max_unpacked_bytes, self.settings.max_files)
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
