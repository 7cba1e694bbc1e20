"""A process serving InvokeEndpointAsync, killed with SIGKILL while 10 requests are queued, restarted on the same
queue file: all 10 complete, each marked once, each answer written once to its key (serve.py; see its docstring
for what stands in for the composition root)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from tests.runtime.asyncinv.conftest import Served, async_config
from tests.runtime.asyncinv.test_async_live import rows
from tests.support import wait_for

pytestmark = pytest.mark.integration


def test_sigkill_with_ten_queued_then_restart_completes_each_once(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket, concurrency=1)})
    client = served.client()
    for i in range(10):
        s3.client().put_object(Bucket=bucket, Key=f"in/{i}", Body=f"payload {i}".encode())
        # The first holds the only slot for 4 s (the container sleeps on it), so the other nine wait behind it.
        client.invoke_endpoint_async(EndpointName="ep", InputLocation=f"s3://{bucket}/in/{i}", InferenceId=f"d{i}",
                                     CustomAttributes="sleep=4" if i == 0 else "sleep=0.1")  # fmt: skip
    waiting = ["running"] + ["queued"] * 9
    wait_for(lambda: [r["state"] for r in rows(served.db)] == waiting, 10, "the first in flight, nine queued")
    served.kill()
    before = rows(served.db)
    assert [r["state"] for r in before] == waiting
    served.start()  # the same file, a new process
    wait_for(lambda: all(r["state"] == "done" for r in rows(served.db)), 60, "all 10 done after the restart")
    after = rows(served.db)
    assert [r["inference_id"] for r in after] == [f"d{i}" for i in range(10)]
    assert all(r["completions"] == 1 for r in after)  # marked done exactly once
    # The one in flight at the kill ran again (a second claim); its answer went to the same key.
    assert [r["attempts"] for r in after] == [2] + [1] * 9
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="out/")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(f"out/d{i}.out" for i in range(10))
    assert s3.client().list_objects_v2(Bucket=bucket, Prefix="failed/")["KeyCount"] == 0
    for i in range(10):
        body = s3.client().get_object(Bucket=bucket, Key=f"out/d{i}.out")["Body"].read()
        assert json.loads(body)["body"] == f"payload {i}"
    assert "1 request(s) left running by the previous process are queued again" in served.log.read_text()
