"""InvokeEndpointAsync through a real coserve host, wired as it ships: boto3 creates an asynchronous endpoint,
queues a request whose input is in a real SeaweedFS, and reads the answer back from the output location."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from tests.runtime.asyncinv.test_async_live import rows
from tests.runtime.control.test_live_boto3 import WAIT, clients, model_url, start_host
from tests.support import Coserve, free_block, free_port, wait_for

pytestmark = pytest.mark.integration


def async_host(s3: S3Endpoint, tmp_path: Path, bucket: str, port: int, base: int, concurrency: int) -> Coserve:
    """A host with one asynchronous endpoint `ep` (a bring-your-own echo model), created through boto3."""
    c = start_host(tmp_path / "host", tmp_path / "state", port, base,
                   storage={"S3EndpointUrl": s3.endpoint_url, "S3AddressingStyle": "path"}, env=s3.env())  # fmt: skip
    sm, _ = clients(c)
    try:
        sm.create_model(
            ModelName="m",
            PrimaryContainer={"Image": "process", "ModelDataUrl": model_url(tmp_path, "m", "async-model")},
        )
        sm.create_endpoint_config(
            EndpointConfigName="c",
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.c5.large",
                                 "InitialInstanceCount": 1}],
            AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{bucket}/out",
                                                   "S3FailurePath": f"s3://{bucket}/failed"},
                                  "ClientConfig": {"MaxConcurrentInvocationsPerInstance": concurrency}},
        )  # fmt: skip
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
    finally:
        sm.close()
    return c


def test_an_async_request_is_answered_in_s3(s3: S3Endpoint, tmp_path: Path) -> None:
    bucket = "async-live"
    store = s3.client()
    store.create_bucket(Bucket=bucket)
    store.put_object(Bucket=bucket, Key="in/request.json", Body=b'{"x": 1}')
    c = async_host(s3, tmp_path, bucket, free_port(), free_block(10, 4), concurrency=2)
    sm, rt = clients(c)
    try:
        queued = rt.invoke_endpoint_async(EndpointName="ep", InputLocation=f"s3://{bucket}/in/request.json",
                                          ContentType="application/json")  # fmt: skip
        output = queued["OutputLocation"]
        assert output.startswith(f"s3://{bucket}/out/") and queued["InferenceId"]
        key = output.removeprefix(f"s3://{bucket}/")

        def answer() -> Any:
            try:
                return store.get_object(Bucket=bucket, Key=key)
            except store.exceptions.NoSuchKey:
                return None

        got = wait_for(answer, 60, f"the answer at {output} (log: {c.log})")
        doc = json.loads(got["Body"].read())
        assert doc["body"] == '{"x": 1}' and doc["model"] == "async-model"
        assert got["ContentType"] == "application/json"
    finally:
        sm.close()
        rt.close()
        store.close()
        c.stop()


def test_coserve_killed_with_ten_queued_completes_each_once_after_a_restart(s3: S3Endpoint, tmp_path: Path) -> None:
    bucket = "async-durable"
    store = s3.client()
    store.create_bucket(Bucket=bucket)
    port, base = free_port(), free_block(10, 4)
    c = async_host(s3, tmp_path, bucket, port, base, concurrency=1)
    _, rt = clients(c)
    db = tmp_path / "state" / "coserve.db"
    try:
        for i in range(10):
            store.put_object(Bucket=bucket, Key=f"in/{i}", Body=f"payload {i}".encode())
            # The first holds the only slot for 4 s (the container sleeps on it): the other nine wait behind it.
            rt.invoke_endpoint_async(EndpointName="ep", InputLocation=f"s3://{bucket}/in/{i}", InferenceId=f"d{i}",
                                     CustomAttributes="sleep=4" if i == 0 else "sleep=0.1")  # fmt: skip
        waiting = ["running"] + ["queued"] * 9
        wait_for(lambda: [r["state"] for r in rows(db)] == waiting, 15, "the first in flight, nine queued")
        c.proc.kill()  # SIGKILL: no drain, no cleanup; the next start sweeps its containers
        c.proc.wait(10)
        assert [r["state"] for r in rows(db)] == waiting
    finally:
        rt.close()
    c = start_host(tmp_path / "host", tmp_path / "state", port, base,
                   storage={"S3EndpointUrl": s3.endpoint_url, "S3AddressingStyle": "path"}, env=s3.env())  # fmt: skip
    try:
        wait_for(lambda: all(r["state"] == "done" for r in rows(db)), 90, f"all 10 done after the restart ({c.log})")
        after = rows(db)
        assert [r["inference_id"] for r in after] == [f"d{i}" for i in range(10)]
        assert all(r["completions"] == 1 for r in after)  # each marked done exactly once
        # The one in flight at the kill ran again; any may have been tried once more while the restarted endpoint
        # still answered ServiceUnavailable (SystemUpdating): a retry, never a second answer.
        assert after[0]["attempts"] >= 2 and all(r["attempts"] >= 1 for r in after)
        listed = store.list_objects_v2(Bucket=bucket, Prefix="out/")
        assert sorted(o["Key"] for o in listed["Contents"]) == sorted(f"out/d{i}.out" for i in range(10))
        assert store.list_objects_v2(Bucket=bucket, Prefix="failed/")["KeyCount"] == 0
        for i in range(10):
            body = store.get_object(Bucket=bucket, Key=f"out/d{i}.out")["Body"].read()
            assert json.loads(body)["body"] == f"payload {i}"
    finally:
        store.close()
        c.stop()
