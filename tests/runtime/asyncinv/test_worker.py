"""The worker in this process, on a real queue file, where the endpoint or S3 cannot serve yet: the request goes
back in the queue with a backoff, nothing is written, and it is not marked. The endpoint here is a routing table
whose container is still STARTING, behind the router's own invoke path (router_invoker); S3 is a closed port."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from runtime.asyncinv import AsyncConfig, AsyncQueue, AsyncWorker, WorkerSettings, router_invoker
from runtime.asyncinv.locations import locations
from runtime.asyncinv.request import parse
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
