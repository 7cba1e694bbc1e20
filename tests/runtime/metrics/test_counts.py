"""Exact invocation figures through a real coserve, with one router process and with two gunicorn workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.runtime.metrics import emf_spec
from tests.runtime.metrics.scrape import Samples, scrape, value
from tests.support import ROOT, Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
GOOD, CLIENT_ERRORS, SERVER_ERRORS, INVALID = 7, 3, 2, 4
HOSTS = ("alpha", "beta")


def post(c: Coserve, headers: dict[str, str]) -> int:
    """One request on a connection of its own, so gunicorn's workers share them."""
    req = urllib.request.Request(f"{c.url}/endpoints/{c.endpoint}/invocations", data=b"{}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code)


def drive(c: Coserve, calls: list[dict[str, str]]) -> list[int]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda h: post(c, h), calls))


@pytest.fixture(scope="module", params=[1, 2], ids=["one-process", "two-workers"])
def direct(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp(f"metrics-w{request.param}")
    (a, a_cfg), (b, b_cfg) = (echo_container(h) for h in HOSTS)
    doc = {
        "EndpointName": "metrics-ep", "VariantName": "prod", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [a, b],
        "Coserve": {"Containers": {"alpha": a_cfg, "beta": b_cfg}, "Server": {"Workers": request.param},
                    "Metrics": {"Emf": {"Path": str(work / "emf" / "coserve.emf"), "Interval": "1s"}}},
    }  # fmt: skip
    c = start_coserve(doc, work)
    calls: list[dict[str, str]] = [{} for _ in range(INVALID)]  # no target: a ValidationError of the variant
    for host in HOSTS:
        target = {"X-Amzn-SageMaker-Target-Container-Hostname": host}
        calls += [target] * GOOD
        calls += [{**target, "X-Amzn-SageMaker-Custom-Attributes": "status=415"}] * CLIENT_ERRORS
        calls += [{**target, "X-Amzn-SageMaker-Custom-Attributes": "status=500"}] * SERVER_ERRORS
    half = len(calls) // 2
    statuses = drive(c, calls[:half])
    if request.param > 1:
        # gunicorn's first worker tends to take every connection of a short burst; kill the ones that served so
        # far, so the figures must add up across several processes' files, a dead worker's included.
        for pid in worker_pids(c):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: c.ping()[0] == 200, 30, "a worker to answer again")
    statuses += drive(c, calls[half:])
    assert sorted(set(statuses)) == [200, 400, 424]
    yield c
    assert c.stop() == 0
    assert not (work / "run" / "prometheus").exists() and not (work / "run" / "stats.json").exists()


def worker_pids(c: Coserve) -> set[int]:
    """The router processes that counted something: prometheus_client names its files after them."""
    return {int(p.stem.split("_")[-1]) for p in (c.workdir / "run" / "prometheus").glob("counter_*.db")}


def test_every_counter_is_exact(direct: Coserve) -> None:
    m = scrape(direct.url)
    calls = GOOD + CLIENT_ERRORS + SERVER_ERRORS
    for host in HOSTS:
        assert value(m, "coserve_invocations_total", container=host) == calls
        assert value(m, "coserve_invocation_4xx_errors_total", container=host) == CLIENT_ERRORS
        assert value(m, "coserve_invocation_5xx_errors_total", container=host) == SERVER_ERRORS
    assert value(m, "coserve_invocations_total", container="") == INVALID, "front-door answers count for the variant"
    assert value(m, "coserve_invocation_4xx_errors_total", container="") == INVALID
    assert value(m, "coserve_invocation_5xx_errors_total", container="") == 0
    assert value(m, "coserve_invocations_total", container="alpha", endpoint="metrics-ep", variant="prod") == calls


def test_latency_histograms_count_every_request(direct: Coserve) -> None:
    m = scrape(direct.url)
    calls = GOOD + CLIENT_ERRORS + SERVER_ERRORS
    for host in HOSTS:
        for name in ("container", "model", "overhead"):
            histogram = f"coserve_{name}_latency_microseconds"
            assert value(m, f"{histogram}_count", container=host) == calls
            assert value(m, f"{histogram}_bucket", container=host, le="+Inf") == calls
            assert (value(m, f"{histogram}_sum", container=host) or 0) > 0
        assert value(m, "coserve_container_latency_microseconds_bucket", container=host, le="100.0") is not None


def test_every_scrape_agrees_whichever_worker_answers(direct: Coserve) -> None:
    if (direct.workdir / "run" / "prometheus").is_dir():  # only gunicorn workers write there
        assert len(worker_pids(direct)) >= 2, "the counts came from more than one worker"

    def invocations(m: Samples) -> list[float | None]:
        return [value(m, "coserve_invocations_total", container=h) for h in ("", *HOSTS)]

    first = invocations(scrape(direct.url))
    for _ in range(8):
        assert invocations(scrape(direct.url)) == first


def test_supervisor_figures_reach_every_worker(direct: Coserve) -> None:
    m = scrape(direct.url)
    for host in HOSTS:
        assert value(m, "coserve_container_state", container=host, state="RUNNING") == 1
        assert value(m, "coserve_container_state", container=host, state="FATAL") == 0
        assert value(m, "coserve_container_restarts_total", container=host) == 0
        assert 0 < (value(m, "coserve_container_ready_seconds", container=host) or 0) < 60
        assert (value(m, "coserve_container_memory_bytes", container=host) or 0) > 0
    assert 0 < (value(m, "coserve_disk_utilization_percent") or 0) <= 100


def emf_lines(c: Coserve) -> list[str]:
    path = c.workdir / "emf" / "coserve.emf"
    return path.read_text().splitlines() if path.exists() else []


def test_emf_lines_follow_the_spec_and_add_up(direct: Coserve) -> None:
    calls = GOOD + CLIENT_ERRORS + SERVER_ERRORS

    def totals() -> dict[str, float]:
        sums: dict[str, float] = {}
        for line in emf_lines(direct):
            doc = json.loads(line)
            key = doc.get("ContainerName", "")
            for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors"):
                sums[f"{key}.{metric}"] = sums.get(f"{key}.{metric}", 0) + doc[metric]
        return sums

    want = {"alpha.Invocations": calls, "alpha.Invocation4XXErrors": CLIENT_ERRORS, "beta.Invocations": calls,
            "beta.Invocation5XXErrors": SERVER_ERRORS, ".Invocations": 2 * calls + INVALID,
            ".Invocation4XXErrors": 2 * CLIENT_ERRORS + INVALID, ".Invocation5XXErrors": 2 * SERVER_ERRORS}  # fmt: skip
    wait_for(lambda: all(totals().get(k) == v for k, v in want.items()), 15, f"EMF totals {want}")
    lines = emf_lines(direct)
    for line in lines:
        assert emf_spec.problems(line) == [], line
    docs = [json.loads(line) for line in lines]
    alpha = next(d for d in docs if d.get("ContainerName") == "alpha" and d["Invocations"])
    assert alpha["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["EndpointName", "VariantName", "ContainerName"]]
    assert (alpha["EndpointName"], alpha["VariantName"]) == ("metrics-ep", "prod")
    assert alpha["ContainerLatency"] > 0 and "CPUUtilization" in alpha and "MemoryUtilization" in alpha
    assert any("DiskUtilization" in d and "ContainerName" not in d for d in docs)


def test_status_command_prints_every_container_with_its_state(direct: Coserve) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runtime", "status", "--url", direct.url, "--sample", "0.2"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    for host in HOSTS:
        row = next(line for line in out.splitlines() if f" {host} " in line)
        assert "RUNNING" in row, out
    assert "metrics-ep / prod" in out


def test_status_endpoint_is_json_per_container(direct: Coserve) -> None:
    with urllib.request.urlopen(f"{direct.url}/coserve/status", timeout=10) as r:
        doc: dict[str, Any] = json.loads(r.read())
    assert [c["hostname"] for c in doc["containers"]] == list(HOSTS)
    assert all(c["state"] == "RUNNING" and c["invocations"] == GOOD + CLIENT_ERRORS + SERVER_ERRORS
               for c in doc["containers"])  # fmt: skip


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    (a, a_cfg), (b, b_cfg) = echo_container("first"), echo_container("second")
    doc = {"EndpointName": "chain-ep", "Containers": [a, b],
           "Coserve": {"Containers": {"first": a_cfg, "second": b_cfg}}}  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("metrics-serial"))
    yield c
    assert c.stop() == 0


def test_a_serial_chain_counts_each_container_and_the_pipeline(serial: Coserve) -> None:
    attrs = "X-Amzn-SageMaker-Custom-Attributes"
    calls: list[dict[str, str]] = (
        [{}] * GOOD + [{attrs: "second.status=503"}] * SERVER_ERRORS + [{attrs: "first.status=404"}] * CLIENT_ERRORS
    )
    drive(serial, calls)
    m = scrape(serial.url)
    assert value(m, "coserve_invocations_total", container="first") == len(calls)
    assert value(m, "coserve_invocation_4xx_errors_total", container="first") == CLIENT_ERRORS
    assert value(m, "coserve_invocation_5xx_errors_total", container="first") == 0
    assert value(m, "coserve_invocations_total", container="second") == GOOD + SERVER_ERRORS
    assert value(m, "coserve_invocation_5xx_errors_total", container="second") == SERVER_ERRORS
    assert value(m, "coserve_container_latency_microseconds_count", container="second") == GOOD + SERVER_ERRORS
    assert value(m, "coserve_model_latency_microseconds_count", container="") == len(calls), "once per request"
    assert value(m, "coserve_invocations_total", container="") == 0
