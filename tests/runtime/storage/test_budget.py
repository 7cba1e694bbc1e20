"""The cache budget (budget.py): least recently used first, leased artifacts kept, shared blobs kept."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from runtime.cli.localstore import S3Endpoint
from runtime.storage import ArtifactStore

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools


def put(s3: S3Endpoint, bucket: str, objects: dict[str, bytes]) -> None:
    client = s3.client()
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    client.close()


def test_evicting_one_prefix_keeps_the_blobs_another_still_uses(
    s3: S3Endpoint, bucket: str, make_store: Callable[..., ArtifactStore]
) -> None:
    shared = os.urandom(100_000)
    put(s3, bucket, {"v1/shared.bin": shared, "v1/own.bin": b"one", "v2/shared.bin": shared, "v2/own.bin": b"two"})
    store = make_store()
    store.lease("ep--v2")
    store.materialize(f"s3://{bucket}/v1/", "ep--v1", "prefix")
    v2 = store.materialize(f"s3://{bucket}/v2/", "ep--v2", "prefix")
    evicted = store.prune(0)
    assert evicted is not None and len(evicted) == 1 and evicted[0].source == f"s3://{bucket}/v1/"
    assert (v2 / "shared.bin").read_bytes() == shared and (v2 / "own.bin").read_bytes() == b"two"
    names = {e.name for e in store.entries()}
    assert len(names) == 1 and next(iter(names)).startswith("data-")
    assert store.stats().evictions == 1
    store.close()
    assert len(store.prune(0) or []) == 1, "released, it goes too"
    assert store.entries() == []


def test_a_busy_cache_is_not_pruned_without_waiting(make_store: Callable[..., ArtifactStore]) -> None:
    store = make_store()
    with store._cache.whole(exclusive=False):  # a materialize under way, in this process or another
        assert store.prune(0, wait=False) is None
    assert store.prune(0, wait=False) == []
