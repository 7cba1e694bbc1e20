"""InvokeEndpointAsync through boto3 against serve.py: real SeaweedFS, a real echo container, a real queue file,
and the router's own invoke path as the Invoker (`router_invoker`); a few tests use a direct Invoker instead, for
what an invoke path that hands back raw container answers gets. What serve.py stands in for: its docstring.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from tests.runtime.asyncinv.conftest import ECHO_TYPE, Served, async_config
from tests.support import wait_for

pytestmark = pytest.mark.integration


def s3_object(s3: S3Endpoint, uri: str) -> dict[str, Any] | None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    client = s3.client()
    try:
        got = client.get_object(Bucket=bucket, Key=key)
    except client.exceptions.NoSuchKey:
        return None
    return {"body": got["Body"].read(), "type": got["ContentType"]}


def put_input(s3: S3Endpoint, bucket: str, key: str, body: bytes) -> str:
    s3.client().put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM async_invocations ORDER BY seq")]


def test_output_lands_in_s3_with_the_containers_content_type(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket)})
    location = put_input(s3, bucket, "in/one.csv", b"1,2,3")
    r = served.client().invoke_endpoint_async(
        EndpointName="ep", InputLocation=location, ContentType="text/csv", Accept=ECHO_TYPE,
        CustomAttributes="trace=abc", InferenceId="req-1",
    )  # fmt: skip
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert r["InferenceId"] == "req-1"
    assert r["OutputLocation"] == f"s3://{bucket}/out/req-1.out"
    assert r["FailureLocation"] == f"s3://{bucket}/failed/req-1-error.out"
    out = wait_for(lambda: s3_object(s3, r["OutputLocation"]), 30, "the output object")
    assert out["type"] == ECHO_TYPE
    doc = json.loads(out["body"])
    assert (doc["body"], doc["content_type"], doc["accept"]) == ("1,2,3", "text/csv", ECHO_TYPE)
    assert doc["custom_attributes"] == "trace=abc"
    assert s3_object(s3, r["FailureLocation"]) is None
    assert wait_for(lambda: [x["state"] for x in rows(served.db)] == ["done"], 10, "the row marked done")


def test_generated_id_inline_body_extension_and_filename(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket)})
    r = served.client().invoke_endpoint_async(
        EndpointName="ep", Body=b'{"x": 1}', ContentType="application/json",
        S3OutputPathExtension="team-a/run1", Filename="result.json",
    )  # fmt: skip
    inference_id = r["InferenceId"]
    assert len(inference_id) == 36  # a UUID, since the client chose none
    assert r["OutputLocation"] == f"s3://{bucket}/out/team-a/run1/result.json"
    assert r["FailureLocation"] == f"s3://{bucket}/failed/team-a/run1/{inference_id}-error.out"
    out = wait_for(lambda: s3_object(s3, r["OutputLocation"]), 30, "the output object")
    assert json.loads(out["body"])["body"] == '{"x": 1}'


@pytest.mark.parametrize("invoker", ["router", "direct"])
def test_container_error_lands_in_the_failure_location(serve: Any, s3: S3Endpoint, bucket: str, invoker: str) -> None:
    """Through the router, the error is InvokeEndpoint's ModelError as the router words it; through an invoke path
    that hands back the container's raw 500, the worker words it the same way."""
    served: Served = serve({"ep": async_config(bucket)}, invoker)
    location = put_input(s3, bucket, "in/bad", b"payload")
    r = served.client().invoke_endpoint_async(EndpointName="ep", InputLocation=location, CustomAttributes="status=500")
    failed = wait_for(lambda: s3_object(s3, r["FailureLocation"]), 30, "the failure object")
    assert failed["type"] == "application/json"
    doc = json.loads(failed["body"])
    assert doc["__type"] == "ModelError"
    assert doc["ErrorCode"] == "SERVER_ERROR_FROM_MODEL"
    assert doc["OriginalStatusCode"] == 500
    assert doc["OriginalMessage"] == "failure 500 in primary"
    source = "primary" if invoker == "router" else "model"
    assert doc["message"].startswith(f'Received server error (500) from {source} with message "failure 500 in primary"')
    assert s3_object(s3, r["OutputLocation"]) is None
    row = wait_for(lambda: [x for x in rows(served.db) if x["state"] == "failed"], 10, "the row marked failed")[0]
    assert row["outcome"] == ("ModelError (424)" if invoker == "router" else f"ModelError: {doc['message']}")


def test_missing_input_and_timeout_are_failures(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket, failure=False)})
    client = served.client()
    missing = client.invoke_endpoint_async(EndpointName="ep", InputLocation=f"s3://{bucket}/in/nothing-here")
    # Without S3FailurePath, errors go beside the outputs.
    assert missing["FailureLocation"] == f"s3://{bucket}/out/{missing['InferenceId']}-error.out"
    doc = json.loads(wait_for(lambda: s3_object(s3, missing["FailureLocation"]), 30, "the failure object")["body"])
    assert doc["__type"] == "ValidationError"
    assert doc["message"].startswith(f"Could not read the input at s3://{bucket}/in/nothing-here: NoSuchKey: ")
    slow = client.invoke_endpoint_async(
        EndpointName="ep", Body=b"x", CustomAttributes="sleep=3", InvocationTimeoutSeconds=1
    )
    doc = json.loads(wait_for(lambda: s3_object(s3, slow["FailureLocation"]), 30, "the timeout's failure")["body"])
    assert doc["__type"] == "ModelError"
    assert doc["OriginalStatusCode"] == 504  # the router's own timeout, set to InvocationTimeoutSeconds
    assert doc["OriginalMessage"].startswith("no response within 0.9")  # what was left of the 1 s
    assert doc["message"].startswith("Your invocation timed out while waiting for a response from container primary.")


def test_a_timeout_through_an_invoke_path_that_raises(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket)}, "direct")
    slow = served.client().invoke_endpoint_async(
        EndpointName="ep", Body=b"x", CustomAttributes="sleep=3", InvocationTimeoutSeconds=1
    )
    doc = json.loads(wait_for(lambda: s3_object(s3, slow["FailureLocation"]), 30, "the timeout's failure")["body"])
    assert doc["__type"] == "ModelError"
    assert doc["ErrorCode"] == "ModelInvocationTimeExceeded"
    assert "InvocationTimeoutSeconds (1 s)" in doc["message"]


def test_twenty_requests_with_concurrency_two(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket, concurrency=2)})
    client = served.client()
    ids = []
    for i in range(20):
        location = put_input(s3, bucket, f"in/{i}", f"request {i}".encode())
        r = client.invoke_endpoint_async(EndpointName="ep", InputLocation=location, InferenceId=f"r{i:02d}",
                                         CustomAttributes="sleep=0.2")  # fmt: skip
        ids.append(r["InferenceId"])
    wait_for(lambda: all(x["state"] == "done" for x in rows(served.db)) and len(rows(served.db)) == 20, 60, "all 20")
    for i, inference_id in enumerate(ids):
        out = s3_object(s3, f"s3://{bucket}/out/{inference_id}.out")
        assert out is not None and json.loads(out["body"])["body"] == f"request {i}"
    assert max_in_flight(served.trace) == 2  # the limit was reached, and never passed
    claimed = [x["started"] for x in rows(served.db)]
    assert claimed == sorted(claimed)  # claimed in arrival order
    assert all(x["completions"] == 1 and x["attempts"] == 1 for x in rows(served.db))
    text = served.metrics()
    assert 'coserve_async_request_latency_microseconds_count{endpoint="ep",outcome="done"} 20.0' in text
    assert 'coserve_async_queue_wait_microseconds_count{endpoint="ep"} 20.0' in text


def max_in_flight(trace: Path) -> int:
    level = peak = 0
    for line in trace.read_text().splitlines():
        level += 1 if json.loads(line)["e"] == "start" else -1
        peak = max(peak, level)
    return peak


def test_backlog_metrics_while_requests_wait(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket, concurrency=1)})
    client = served.client()
    for i, sleep in enumerate(("3", "0.1", "0.1")):  # the first holds the only slot for 3 s: all three are counted
        client.invoke_endpoint_async(
            EndpointName="ep", Body=b"x", InferenceId=f"b{i}", CustomAttributes=f"sleep={sleep}"
        )
    text = served.metrics()
    assert 'coserve_async_backlog_size{endpoint="ep"} 3.0' in text
    age = [ln for ln in text.splitlines() if ln.startswith('coserve_async_oldest_request_age_seconds{endpoint="ep"}')]
    assert len(age) == 1 and 0.0 <= float(age[0].split()[-1]) < 3.0
    wait_for(lambda: "coserve_async_backlog_size{" not in served.metrics(), 30, "the backlog to empty")


def test_a_retried_inference_id_is_queued_once(serve: Any, s3: S3Endpoint, bucket: str) -> None:
    served: Served = serve({"ep": async_config(bucket, concurrency=1)})
    client = served.client()
    first = client.invoke_endpoint_async(EndpointName="ep", Body=b"a", InferenceId="same", CustomAttributes="sleep=1")
    again = client.invoke_endpoint_async(EndpointName="ep", Body=b"a", InferenceId="same", CustomAttributes="sleep=1")
    assert again["OutputLocation"] == first["OutputLocation"]
    wait_for(lambda: s3_object(s3, first["OutputLocation"]), 30, "the output")
    assert len(rows(served.db)) == 1


def test_an_answer_that_cannot_be_written_fails_at_the_failure_location(
    serve: Any, s3: S3Endpoint, bucket: str
) -> None:
    config = async_config(bucket)
    # SeaweedFS creates a missing bucket on the first write, so a name no store accepts stands for a bad output path.
    config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] = "s3://Bad_Bucket/out"
    served: Served = serve({"ep": config})
    r = served.client().invoke_endpoint_async(EndpointName="ep", Body=b"x", InferenceId="lost")
    assert r["FailureLocation"] == f"s3://{bucket}/failed/lost-error.out"
    doc = json.loads(wait_for(lambda: s3_object(s3, r["FailureLocation"]), 30, "the failure object")["body"])
    assert doc["__type"] == "InternalFailure"
    assert doc["message"].startswith(
        "The answer could not be written: Could not write s3://Bad_Bucket/out/lost.out: InvalidBucketName"
    )
    assert wait_for(lambda: [x["state"] for x in rows(served.db)] == ["failed"], 10, "the row marked failed")
