"""The worker in this process, on a real queue file, where the endpoint or S3 cannot serve yet: the request goes
back in the queue with a backoff, nothing is written, and it is not marked. The endpoint here is a routing table
whose container is still STARTING, behind the router's own invoke path (router_invoker); S3 is a closed port.
The control plane's state store is the Lookup seam: a function here that raises StateUnavailable while "down"
(what runtime.control's stores raise for a locked or unreadable file); the queue's own file is locked for real."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from runtime import sqlitefile
from runtime.asyncinv import AsyncConfig, AsyncQueue, AsyncWorker, WorkerSettings, router_invoker
from runtime.asyncinv.locations import locations
from runtime.asyncinv.request import parse
from runtime.control.state import StateUnavailable
from runtime.published import Published
from runtime.router import Router, RouterSettings
from runtime.routing import ContainerRoute, EndpointTable, HostTable
from tests.support import free_port, wait_for

NOW = 5000.0
CONFIG = AsyncConfig("s3://b/out", "s3://b/failed", 2)


def queued(tmp_path: Path) -> AsyncQueue:
    queue = AsyncQueue(tmp_path / "q.db").open()
    r = parse("ep", {"x-amzn-sagemaker-inference-id": "wait"}, b"x")
    queue.enqueue(r, locations(CONFIG, "wait", None, None), now=NOW)
    return queue


def row(queue: AsyncQueue) -> dict[str, Any]:
    with sqlite3.connect(queue.path) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM async_invocations").fetchone())


def released(queue: AsyncQueue) -> bool:
    r = row(queue)
    return r["state"] == "queued" and r["attempts"] == 1


def run_until_released(queue: AsyncQueue, invoker: Any, s3: Any) -> None:
    async def run() -> None:
        worker = AsyncWorker(queue, lambda name: CONFIG, invoker, lambda: s3, WorkerSettings(poll_s=0.05),
                             clock=lambda: NOW)  # fmt: skip
        await worker.start()
        try:
            await asyncio.to_thread(wait_for, lambda: released(queue), 20, "the request back in the queue")
        finally:
            await worker.stop()

    asyncio.run(run())


def dead_s3() -> Any:
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1", aws_access_key_id="k",
        aws_secret_access_key="s", config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )  # fmt: skip


def test_an_endpoint_not_ready_sends_the_request_back_to_wait(tmp_path: Path) -> None:
    queue = queued(tmp_path)
    starting = ContainerRoute("primary", free_port(), "STARTING", "/var/log/primary.log")
    router = Router(Published(HostTable((EndpointTable("ep", "AllTraffic", "Serial", (starting,)),))), RouterSettings())
    s3 = dead_s3()  # never called: nothing is written for a request that waits
    run_until_released(queue, router_invoker(router), s3)
    r = row(queue)
    assert (r["not_before"], r["completions"], r["finished"]) == (NOW + 0.5, 0, None)  # first backoff: 0.5 s
    asyncio.run(router.upstream.close())
    s3.close()
    queue.close()


def test_s3_unreachable_for_the_answer_sends_the_request_back_to_wait(tmp_path: Path) -> None:
    queue = queued(tmp_path)
    calls: list[str] = []

    async def invoker(name: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Any:
        calls.append(name)
        return 200, {"Content-Type": "text/plain"}, b"answer"

    s3 = dead_s3()
    run_until_released(queue, invoker, s3)
    assert calls == ["ep"]
    r = row(queue)
    assert (r["not_before"], r["completions"]) == (NOW + 0.5, 0)
    s3.close()
    queue.close()


async def answer(name: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Any:
    return 200, {"Content-Type": "text/plain"}, b"answer"


def run_until(queue: AsyncQueue, lookup: Any, invoker: Any, s3: Any, *steps: tuple[Any, str]) -> None:
    """Runs the worker until each (check, what) in turn holds; a check may change the world for the next."""

    async def run() -> None:
        worker = AsyncWorker(queue, lookup, invoker, lambda: s3, WorkerSettings(poll_s=0.02), clock=lambda: NOW)
        await worker.start()
        try:
            for check, what in steps:
                await asyncio.to_thread(wait_for, check, 20, what)
        finally:
            await worker.stop()

    asyncio.run(run())


def test_a_state_store_outage_is_logged_once_each_way_and_the_queued_request_goes_on_after(
    tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="runtime.asyncinv")
    queue = queued(tmp_path)
    down, lookups, calls = threading.Event(), list[str](), list[str]()
    down.set()

    def lookup(name: str) -> AsyncConfig:
        lookups.append(name)
        if down.is_set():
            raise StateUnavailable("state.db: database is locked")
        return CONFIG

    async def invoker(name: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Any:
        calls.append(name)
        return await answer(name, body, headers, timeout_s)

    def recovered() -> bool:  # ten polls refused, nothing claimed meanwhile; then the store answers
        if len(lookups) < 10:
            return False
        assert row(queue)["attempts"] == 0 and calls == []
        down.clear()
        return True

    s3 = dead_s3()  # the answer cannot be written: the request goes back to wait, the sign that it ran
    run_until(queue, lookup, invoker, s3, (recovered, "ten polls in the outage"),
              (lambda: released(queue), "the request run after the outage"))  # fmt: skip
    assert calls == ["ep"]
    ours = [r for r in caplog.records if r.name == "runtime.asyncinv"]
    outage = [(r.levelno, r.getMessage()) for r in ours if "state store" in r.getMessage()]
    assert outage == [
        (logging.WARNING, "async: the state store is unavailable (state.db: database is locked); queued requests "
                          "wait until it answers"),
        (logging.INFO, "async: the state store answers again after 0.0s; queued requests go on"),
    ]  # fmt: skip
    assert [r.getMessage() for r in ours if r.exc_info] == []
    s3.close()
    queue.close()


def test_a_lookup_that_fails_otherwise_is_logged_with_its_traceback_each_time(tmp_path: Path, caplog: Any) -> None:
    queue = queued(tmp_path)
    lookups: list[str] = []

    def lookup(name: str) -> AsyncConfig:
        lookups.append(name)
        raise RuntimeError("a bug in the lookup")

    s3 = dead_s3()  # never called: nothing is claimed
    run_until(queue, lookup, answer, s3, (lambda: len(lookups) >= 3, "three polls"))
    failed = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(failed) >= 3 and all(r.exc_info and r.exc_info[0] is RuntimeError for r in failed)
    assert row(queue)["attempts"] == 0
    s3.close()
    queue.close()


def test_the_queue_file_locked_by_another_writer_is_an_outage_logged_once_and_the_request_runs_after(
    tmp_path: Path, caplog: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(sqlitefile, "BUSY_TIMEOUT_S", 0.0)  # SQLite's 10 s wait on a lock, cut: it fails at once
    caplog.set_level(logging.INFO, logger="runtime.asyncinv")
    queue = queued(tmp_path)
    locker = sqlite3.connect(queue.path, isolation_level=None, check_same_thread=False)
    lookups: list[str] = []

    def lookup(name: str) -> AsyncConfig:
        lookups.append(name)
        if len(lookups) == 1:  # another writer takes the file's write lock: the worker's claim fails (SQLITE_BUSY)
            locker.execute("BEGIN IMMEDIATE")
        return CONFIG

    def unlocked() -> bool:
        if len(lookups) < 10:
            return False
        assert row(queue)["attempts"] == 0
        locker.execute("ROLLBACK")
        return True

    s3 = dead_s3()
    run_until(queue, lookup, answer, s3, (unlocked, "ten polls on the locked file"),
              (lambda: released(queue), "the request run after the lock went"))  # fmt: skip
    ours = [r for r in caplog.records if r.name == "runtime.asyncinv"]
    assert [(r.levelno, r.getMessage()) for r in ours if "state store" in r.getMessage()] == [
        (logging.WARNING, "async: the state store is unavailable (database is locked); queued requests wait until "
                          "it answers"),
        (logging.INFO, "async: the state store answers again after 0.0s; queued requests go on"),
    ]  # fmt: skip
    assert [r.getMessage() for r in ours if r.exc_info] == []
    locker.close()
    s3.close()
    queue.close()
