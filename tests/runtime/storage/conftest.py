"""Fixtures: one SeaweedFS per session, a fresh bucket and cache per test, leftover checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from runtime.storage import ArtifactStore, StorageSettings
from runtime.storage.cache import TMP_PREFIX


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    name = f"models-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    client.close()
    return name


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "volume"


class GetCounter:
    """Counts GetObject requests as they leave boto3 (ranged parts each count)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **kwargs: Any) -> None:
        self.count += 1


@pytest.fixture
def gets() -> GetCounter:
    return GetCounter()


@pytest.fixture
def make_store(s3: S3Endpoint, cache_dir: Path, gets: GetCounter) -> Callable[..., ArtifactStore]:
    """A new ArtifactStore on the shared cache_dir (a new one = a restart), counting GETs."""

    def make(endpoint: S3Endpoint | None = None, **settings: Any) -> ArtifactStore:
        chosen = endpoint or s3

        def client() -> Any:
            made = chosen.client(retries={"total_max_attempts": 1})
            made.meta.events.register("before-send.s3.GetObject", gets)
            return made

        config = StorageSettings(cache_dir=cache_dir, progress=False, backoff_base_s=0.001, **settings)
        return ArtifactStore(config, s3_client_factory=client)

    return make


def leftovers(cache_dir: Path, name: str) -> list[str]:
    """What a failed materialize must not leave: temp names, blobs, trees, the model dir."""
    found = [str(p) for p in cache_dir.rglob(f"{TMP_PREFIX}*")]
    for sub in ("artifacts/blobs", "artifacts/trees"):
        found += [str(p) for p in (cache_dir / sub).glob("*")]
    if (cache_dir / "models" / name).exists():
        found.append(str(cache_dir / "models" / name))
    return found
