"""InvokeEndpointAsync through a real coserve host, wired as it ships: boto3 creates an asynchronous endpoint,
queues a request whose input is in a real SeaweedFS, and reads the answer back from the output location."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from tests.runtime.control.test_live_boto3 import WAIT, clients, model_url, start_host
from tests.support import free_block, free_port, wait_for

pytestmark = pytest.mark.integration


def test_an_async_request_is_answered_in_s3(s3: S3Endpoint, tmp_path: Path) -> None:
    bucket = "async-live"
    store = s3.client()
    store.create_bucket(Bucket=bucket)
    store.put_object(Bucket=bucket, Key="in/request.json", Body=b'{"x": 1}')
    c = start_host(tmp_path / "host", tmp_path / "state", free_port(), free_block(10, 4),
                   storage={"S3EndpointUrl": s3.endpoint_url, "S3AddressingStyle": "path"}, env=s3.env())  # fmt: skip
    sm, rt = clients(c)
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
                                  "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}},
        )  # fmt: skip
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
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
