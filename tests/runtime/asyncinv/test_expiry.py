"""RequestTTLSeconds and a deleted endpoint, with the worker in this process (its clock passed in) against a real
SeaweedFS: the minimum TTL is 60 s, so the test moves the clock instead of waiting. The Invoker here must never be
called: each request fails before it reaches a model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from runtime.asyncinv import AsyncConfig, AsyncQueue, AsyncWorker, EndpointNotFound, WorkerSettings
from runtime.asyncinv.locations import locations
from runtime.asyncinv.request import parse
from runtime.cli.localstore import S3Endpoint
from tests.support import wait_for

Answer = tuple[int, dict[str, str], bytes]

pytestmark = pytest.mark.integration


def test_expired_and_orphaned_requests_fail_without_reaching_the_model(
    tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    config = AsyncConfig(f"s3://{bucket}/out", f"s3://{bucket}/failed", 1)
    queue = AsyncQueue(tmp_path / "q.db").open()
    for endpoint, inference_id, ttl in (("ep", "late", "60"), ("gone", "orphan", "3600")):
        headers = {"x-amzn-sagemaker-requestttlseconds": ttl, "x-amzn-sagemaker-inference-id": inference_id}
        r = parse(endpoint, headers, b"x")
        queue.enqueue(r, locations(config, inference_id, None, None), now=1000.0)
    called: list[str] = []

    async def invoker(endpoint: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Answer:
        called.append(endpoint)
        return 200, {}, b""

    def lookup(name: str) -> AsyncConfig | None:
        if name == "gone":
            raise EndpointNotFound(name)
        return config

    async def run() -> None:
        client = s3.client()
        worker = AsyncWorker(queue, lookup, invoker, lambda: client, WorkerSettings(poll_s=0.05), clock=lambda: 1061.0)
        await worker.start()
        try:
            await asyncio.to_thread(wait_for, lambda: _failed(s3, bucket) == ["late", "orphan"], 20, "two failures")
        finally:
            await worker.stop()

    asyncio.run(run())
    queue.close()
    assert called == []
    late = json.loads(s3.client().get_object(Bucket=bucket, Key="failed/late-error.out")["Body"].read())
    assert late["__type"] == "RequestExpired"
    assert late["message"] == ("The request waited 61 s in the queue, past its RequestTTLSeconds (60 s); "
                               "it was not sent to the model.")  # fmt: skip
    orphan = json.loads(s3.client().get_object(Bucket=bucket, Key="failed/orphan-error.out")["Body"].read())
    assert (orphan["__type"], orphan["message"]) == ("ValidationError", "Endpoint gone not found.")


def _failed(s3: S3Endpoint, bucket: str) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="failed/").get("Contents", [])
    return sorted(o["Key"].removeprefix("failed/").removesuffix("-error.out") for o in listed)
