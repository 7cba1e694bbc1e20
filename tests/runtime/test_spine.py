"""The runtime spine end to end: coserve as a subprocess, real containers on 127.0.0.1, boto3 as the client."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support import Coserve, client_error, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration


def direct_doc(**server: Any) -> dict[str, Any]:
    a, a_cfg = echo_container("alpha", ECHO_NAME="alpha")
    b, b_cfg = echo_container("beta", ECHO_NAME="beta", ECHO_CONTENT_TYPE="text/csv")
    return {
        "EndpointName": "spine-ep",
        "VariantName": "prod",
        "ModelName": "spine",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [a, b],
        "Coserve": {
            "Containers": {"alpha": a_cfg, "beta": b_cfg},
            "Server": {"MaxPayload": "64KiB", "InvocationTimeout": "2s", "BackoffBase": "0.2s", **server},
        },
    }


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    c = start_coserve(direct_doc(), tmp_path_factory.mktemp("direct"))
    yield c
    c.stop()


error_of = client_error


def test_invoke_each_container_through_boto3(direct: Coserve) -> None:
    rt = direct.client()
    for hostname, ctype in (("alpha", "application/json"), ("beta", "text/csv")):
        r = rt.invoke_endpoint(
            EndpointName="spine-ep", TargetContainerHostname=hostname, ContentType="application/json",
            Accept="application/json", CustomAttributes="trace=1", Body=json.dumps({"x": hostname}),
        )  # fmt: skip
        got = json.loads(r["Body"].read())
        assert got["container"] == hostname
        assert json.loads(got["body"]) == {"x": hostname}
        assert (got["content_type"], got["accept"], got["custom_attributes"]) == (
            "application/json",
            "application/json",
            "trace=1",
        )
        assert got["target_header"] is None, "routing headers are stripped before forwarding"
        assert r["ContentType"] == ctype
        assert r["InvokedProductionVariant"] == "prod"
        assert r["CustomAttributes"] == f"from={hostname}"


def test_plain_invocations_path_routes_by_header(direct: Coserve) -> None:
    req = urllib.request.Request(f"{direct.url}/invocations", data=b"hi", method="POST",
                                 headers={"X-Amzn-SageMaker-Target-Container-Hostname": "beta"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["container"] == "beta"


def test_ping_is_200_when_every_container_runs(direct: Coserve) -> None:
    assert direct.ping() == (200, {"status": "Healthy"})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"EndpointName": "spine-ep"}, "must name a TargetContainerHostname"),
        ({"EndpointName": "spine-ep", "TargetContainerHostname": "gamma"}, "gamma is not a container"),
        ({"EndpointName": "no-such-ep", "TargetContainerHostname": "alpha"}, "Endpoint no-such-ep"),
        ({"EndpointName": "spine-ep", "TargetContainerHostname": "alpha", "Body": b"x" * (64 * 1024 + 1)}, "exceeds"),
    ],
)
def test_validation_errors(direct: Coserve, kwargs: dict[str, Any], needle: str) -> None:
    kwargs.setdefault("Body", b"{}")
    resp = error_of(lambda: direct.client().invoke_endpoint(**kwargs))
    assert resp["Error"]["Code"] == "ValidationError"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert needle in resp["Error"]["Message"]


def test_container_error_is_a_model_error(direct: Coserve) -> None:
    resp = error_of(
        lambda: direct.client().invoke_endpoint(
            EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}", CustomAttributes="status=503"
        )
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert resp["Error"]["Code"] == "ModelError"
    assert resp["OriginalStatusCode"] == 503
    assert resp["OriginalMessage"] == "failure 503 in alpha"
    assert resp["Error"]["Message"].startswith(
        'Received server error (503) from alpha with message "failure 503 in alpha"'
    )
    assert resp["LogStreamArn"].endswith("alpha.log")
    client = error_of(
        lambda: direct.client().invoke_endpoint(
            EndpointName="spine-ep", TargetContainerHostname="beta", Body=b"{}", CustomAttributes="status=415"
        )
    )
    assert client["Error"]["Message"].startswith("Received client error (415) from beta")


def test_a_timeout_is_a_model_error_and_the_container_still_serves(direct: Coserve) -> None:
    resp = error_of(
        lambda: direct.client().invoke_endpoint(
            EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}", CustomAttributes="sleep=4"
        )
    )
    assert resp["Error"]["Code"] == "ModelError"
    assert resp["OriginalStatusCode"] == 504
    assert "timed out while waiting for a response from container alpha" in resp["Error"]["Message"]
    r = direct.client().invoke_endpoint(EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}")
    assert json.loads(r["Body"].read())["container"] == "alpha"


def test_reset_is_a_model_error_then_the_container_comes_back(direct: Coserve) -> None:
    resp = error_of(
        lambda: direct.client().invoke_endpoint(
            EndpointName="spine-ep", TargetContainerHostname="beta", Body=b"{}", CustomAttributes="reset=1"
        )
    )
    assert resp["Error"]["Code"] == "ModelError"
    assert resp["OriginalStatusCode"] == 502
    wait_for(lambda: direct.state("beta") != "RUNNING", 10, "beta to notice its exit")
    direct.wait_state("beta", "RUNNING")
    r = direct.client().invoke_endpoint(EndpointName="spine-ep", TargetContainerHostname="beta", Body=b"{}")
    assert json.loads(r["Body"].read())["container"] == "beta"


def test_sigkilled_container_comes_back_running_and_serves(direct: Coserve) -> None:
    rt = direct.client()
    pid = json.loads(
        rt.invoke_endpoint(EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}")["Body"].read()
    )["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: direct.state("alpha") != "RUNNING", 10, "alpha to notice the kill")
    direct.wait_state("alpha", "RUNNING")
    again = json.loads(
        rt.invoke_endpoint(EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}")["Body"].read()
    )
    assert again["pid"] != pid
    assert "terminated by SIGKILL" in direct.log.read_text()


@pytest.fixture(scope="module")
def troubled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    ok, ok_cfg = echo_container("steady")
    bad, bad_cfg = echo_container("crashy", ECHO_MODE="crash")
    doc = {
        "EndpointName": "troubled-ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [ok, bad],
        "Coserve": {"Containers": {"steady": ok_cfg, "crashy": bad_cfg},
                    "Server": {"StartRetries": 2, "BackoffBase": "0.1s"}},
    }  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("troubled"), wait_ready=False)
    yield c
    c.stop()


def test_always_crashing_container_ends_fatal_and_ping_says_so(troubled: Coserve) -> None:
    troubled.wait_state("crashy", "FATAL", 30)
    troubled.wait_state("steady", "RUNNING")
    status, body = troubled.ping()
    assert status == 503
    assert body["containers"] == {"crashy": "FATAL"}
    assert "crashy" in body["message"]
    log = troubled.log.read_text()
    assert "exited: (exit status 1; not expected)" in log
    # It fails the same way before every ping: FATAL at the second exit, quoting it (StartRetries is for the rest).
    assert "gave up: failed the same way twice in a row before answering a ping: echo: crashing on purpose" in log
    assert "runtime.container.crashy: echo: crashing on purpose" in log, "container output reaches coserve's log"
    own_log = troubled.workdir / "logs" / "crashy.log"
    assert "crashing on purpose" in own_log.read_text(), "and the container's own log file"


def test_a_container_not_running_is_service_unavailable_and_others_serve(troubled: Coserve) -> None:
    troubled.wait_state("crashy", "FATAL", 30)
    resp = error_of(
        lambda: troubled.client().invoke_endpoint(
            EndpointName="troubled-ep", TargetContainerHostname="crashy", Body=b"{}"
        )
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert resp["Error"]["Code"] == "ServiceUnavailable"
    assert "crashy is FATAL" in resp["Error"]["Message"]
    r = troubled.client().invoke_endpoint(EndpointName="troubled-ep", TargetContainerHostname="steady", Body=b"{}")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_target_header_on_a_serial_endpoint_is_rejected(tmp_path: Path) -> None:
    a, a_cfg = echo_container("one")
    doc = {"EndpointName": "serial-ep", "Containers": [a], "Coserve": {"Containers": {"one": a_cfg}}}
    c = start_coserve(doc, tmp_path)
    try:
        resp = error_of(
            lambda: c.client().invoke_endpoint(EndpointName="serial-ep", TargetContainerHostname="one", Body=b"{}")
        )
        assert resp["Error"]["Code"] == "ValidationError"
        assert "only supported on Direct-mode endpoints" in resp["Error"]["Message"]
    finally:
        assert c.stop() == 0


def test_sigterm_leaves_no_child_process_behind(tmp_path: Path) -> None:
    a, a_cfg = echo_container("forker", ECHO_MODE="fork")
    b, b_cfg = echo_container("plain")
    doc = {"EndpointName": "term-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [a, b],
           "Coserve": {"Containers": {"forker": a_cfg, "plain": b_cfg}}}  # fmt: skip
    c = start_coserve(doc, tmp_path)
    children = c.descendants()
    assert len(children) >= 3, "two servers and the forked grandchild"
    assert c.stop() == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left behind: {alive}"
    assert not (tmp_path / "run" / "routes.json").exists()


def test_two_router_workers_share_the_table_and_follow_restarts(tmp_path: Path) -> None:
    c = start_coserve(direct_doc(Workers=2), tmp_path)
    try:
        rt = c.client()
        pids = set()
        for _ in range(6):
            r = rt.invoke_endpoint(EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}")
            pids.add(json.loads(r["Body"].read())["pid"])
        assert len(pids) == 1
        os.kill(pids.pop(), signal.SIGKILL)
        wait_for(lambda: c.state("alpha") != "RUNNING", 10, "alpha to notice the kill")
        c.wait_state("alpha", "RUNNING")
        wait_for(lambda: c.ping()[0] == 200, 10, "every worker to see alpha RUNNING again")
        for _ in range(4):
            r = rt.invoke_endpoint(EndpointName="spine-ep", TargetContainerHostname="alpha", Body=b"{}")
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        gunicorn = [p for p in c.descendants() if "gunicorn" in " ".join(p.cmdline())]
        assert len(gunicorn) == 3, "one arbiter and two workers"
    finally:
        assert c.stop() == 0
