"""The queue on its own (a real SQLite file, the clock passed in): order, limits, leases, finishing once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.asyncinv.config import AsyncConfig, from_endpoint_config
from runtime.asyncinv.locations import Locations, locations
from runtime.asyncinv.queue import LEASE_MARGIN_S, AsyncQueue
from runtime.asyncinv.request import AsyncRequest, parse
from runtime.asyncinv.schema import SchemaError


def request(inference_id: str, endpoint: str = "ep", timeout_s: int = 10, ttl_s: int = 60) -> AsyncRequest:
    return AsyncRequest(endpoint, inference_id, None, b"x", "text/csv", None, "a=1", None, None, ttl_s, timeout_s)


def where(inference_id: str) -> Locations:
    return locations(AsyncConfig("s3://b/out"), inference_id, None, None)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[AsyncQueue]:
    q = AsyncQueue(tmp_path / "state" / "q.db").open()
    yield q
    q.close()


def test_claims_in_order_up_to_the_limit_per_endpoint(queue: AsyncQueue) -> None:
    for i in range(5):
        queue.enqueue(request(f"a{i}"), where(f"a{i}"), now=100 + i)
    queue.enqueue(request("b0", endpoint="other"), where("b0"), now=100)
    first = queue.claim("ep", 2, now=200)
    assert [i.inference_id for i in first] == ["a0", "a1"]
    assert (first[0].content_type, first[0].custom_attributes, first[0].body) == ("text/csv", "a=1", b"x")
    assert queue.claim("ep", 2, now=200) == []  # two in flight: the limit
    assert [i.inference_id for i in queue.claim("other", 2, now=200)] == ["b0"]  # another endpoint's own limit
    assert queue.finish(first[0], None, now=201)
    assert [i.inference_id for i in queue.claim("ep", 2, now=201)] == ["a2"]
    assert sorted(queue.waiting(now=201)) == ["ep"]


def test_a_claim_finishes_once_and_a_voided_claim_not_at_all(queue: AsyncQueue) -> None:
    queue.enqueue(request("x", timeout_s=10), where("x"), now=0)
    (held,) = queue.claim("ep", 1, now=1)
    # The holder died: after its lease (timeout + margin) the request is claimed again, by a new claim.
    assert queue.claim("ep", 1, now=1 + 10 + LEASE_MARGIN_S - 1) == []
    (again,) = queue.claim("ep", 1, now=1 + 10 + LEASE_MARGIN_S + 1)
    assert again.attempt == held.attempt + 1
    assert not queue.finish(held, None, now=400)  # the stale claim changes nothing
    assert queue.finish(again, "ModelError: boom", now=401)
    assert not queue.finish(again, None, now=402)  # and the live one only once
    assert _column(queue, "state, completions, outcome") == [("failed", 1, "ModelError: boom")]


def test_recover_requeues_what_a_dead_process_held(queue: AsyncQueue) -> None:
    queue.enqueue(request("x"), where("x"), now=0)
    queue.claim("ep", 1, now=1)
    assert queue.recover() == 1
    (item,) = queue.claim("ep", 1, now=2)
    assert item.attempt == 2


def test_release_waits_for_its_backoff(queue: AsyncQueue) -> None:
    queue.enqueue(request("x"), where("x"), now=0)
    (item,) = queue.claim("ep", 1, now=1)
    assert queue.release(item, not_before=10)
    assert queue.claim("ep", 1, now=9) == [] and queue.waiting(now=9) == []
    assert len(queue.claim("ep", 1, now=10)) == 1


def test_backlog_counts_queued_and_running_and_prune_forgets_finished(queue: AsyncQueue) -> None:
    for i in range(3):
        queue.enqueue(request(f"x{i}"), where(f"x{i}"), now=10 + i)
    (item,) = queue.claim("ep", 1, now=20)
    backlog = queue.backlog(now=25)["ep"]
    assert (backlog.size, backlog.oldest_age_s) == (3, 15.0)
    queue.finish(item, None, now=30)
    assert queue.backlog(now=30)["ep"].size == 2
    assert queue.prune(before=29) == 0 and queue.prune(before=31) == 1


def test_a_retried_id_is_one_row_until_finished_then_queued_afresh(queue: AsyncQueue) -> None:
    first = queue.enqueue(request("same"), where("same"), now=0)
    assert queue.enqueue(request("same"), locations(AsyncConfig("s3://b/x"), "same", "ext", None), now=1) == first
    (item,) = queue.claim("ep", 5, now=2)
    queue.finish(item, None, now=3)
    queue.enqueue(request("same"), where("same"), now=4)
    assert _column(queue, "state") == [("queued",)]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    AsyncQueue(path).open().close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE asyncinv_schema SET version = 2")
    with pytest.raises(SchemaError, match="has schema version \\[2\\]; this coserve reads version 1 only"):
        AsyncQueue(path).open()


def test_shares_a_file_with_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "coserve.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE endpoints (name TEXT)")
        db.execute("PRAGMA user_version = 1")
    q = AsyncQueue(path).open()
    q.enqueue(request("x"), where("x"), now=0)
    q.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1  # the control plane's version is left alone


def test_config_from_an_endpoint_config_request() -> None:
    assert from_endpoint_config({"ProductionVariants": []}) is None
    config = from_endpoint_config({"AsyncInferenceConfig": {
        "OutputConfig": {"S3OutputPath": "s3://b/out/", "S3FailurePath": "s3://b/fail", "KmsKeyId": "k"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 7},
    }})  # fmt: skip
    assert config == AsyncConfig("s3://b/out", "s3://b/fail", 7)
    assert from_endpoint_config({"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/o"}}}) == (
        AsyncConfig("s3://b/o", None, 4)
    )


def test_parse_defaults_and_a_generated_id() -> None:
    r = parse("ep", {"x-amzn-sagemaker-inputlocation": "s3://b/k"}, b"")
    assert (r.ttl_s, r.timeout_s, r.body, r.input_location) == (21_600, 900, None, "s3://b/k")
    assert len(r.inference_id) == 36


def _column(queue: AsyncQueue, columns: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(queue.path) as db:
        return list(db.execute(f"SELECT {columns} FROM async_invocations"))
