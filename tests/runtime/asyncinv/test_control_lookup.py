"""The Lookup over the control plane's real store, and the queue sharing the store's file (DESIGN.md: one file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runtime.asyncinv import AsyncConfig, AsyncQueue, EndpointNotFound
from runtime.asyncinv.control import store_lookup
from runtime.asyncinv.locations import locations
from runtime.asyncinv.request import parse
from runtime.control.records import Endpoint, Snapshot
from runtime.control.store import Store

ASYNC = {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out"},
                                  "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}}}  # fmt: skip


def endpoint(name: str, status: Any, running: dict[str, Any] | None, target: dict[str, Any] | None) -> Endpoint:
    def snap(config: dict[str, Any] | None) -> Snapshot | None:
        return None if config is None else Snapshot("cfg", {"ProductionVariants": [], **config}, {})

    return Endpoint(
        name=name, arn=f"arn:{name}", config_name="cfg", status=status, failure_reason=None, created=0.0,
        modified=0.0, running=snap(running), target=snap(target), coserve=None, tags=[], generation=1,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path / "state").open()
    yield s
    s.close()


def test_lookup_reads_what_serves(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_endpoint(endpoint("async-ep", "InService", ASYNC, None))
        tx.put_endpoint(endpoint("realtime", "InService", {}, None))
        tx.put_endpoint(endpoint("creating", "Creating", None, ASYNC))
        tx.put_endpoint(endpoint("updating", "Updating", {}, ASYNC))  # still serves the old, real-time config
        tx.put_endpoint(endpoint("failed", "Failed", None, None))
        tx.put_endpoint(endpoint("deleting", "Deleting", ASYNC, None))
    lookup = store_lookup(store)
    assert lookup("ASYNC-EP") == AsyncConfig("s3://b/out", None, 2)  # names are case-insensitive
    assert lookup("creating") == AsyncConfig("s3://b/out", None, 2)
    assert lookup("realtime") is None and lookup("updating") is None
    for name in ("nope", "failed", "deleting"):
        with pytest.raises(EndpointNotFound, match=f"Endpoint {name} not found."):
            lookup(name)


def test_the_queue_shares_the_stores_file(store: Store) -> None:
    queue = AsyncQueue(store.path).open()
    r = parse("ep", {"x-amzn-sagemaker-inference-id": "one"}, b"x")
    queue.enqueue(r, locations(AsyncConfig("s3://b/out"), "one", None, None), now=0.0)
    queue.close()
    store.close()
    again = Store(store.state_dir).open()  # the control plane still reads its file, at its version
    assert again.endpoints() == []
    again.close()
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM async_invocations").fetchone()[0] == 1
    store.open()  # for the fixture's close
