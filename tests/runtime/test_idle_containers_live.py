"""Issue 16's deployment-file half through a real coserve: a container with Coserve.Containers.<host>.IdleTimeout
is stopped when unused (its process and cgroup gone, its route IDLE), a request wakes it and succeeds while concurrent
requests share the one wake (in one process and with gunicorn workers), and a neighbour without IdleTimeout runs
on untouched meanwhile; a Serial chain with an idle member wakes it for the chain's request."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runtime.cgroups.procfs import cgroup_mounts
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration


def invoke(c: Coserve, target: str) -> dict[str, Any]:
    r = c.client(fresh=True).invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname=target, Body=b"{}")
    doc: dict[str, Any] = json.loads(r["Body"].read())
    return doc


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def memory_cgroup(pid: int) -> Path:
    """The v1 memory cgroup directory `pid` runs in."""
    line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":memory:" in x)
    return cgroup_mounts().v1["memory"] / line.split(":", 2)[2].lstrip("/")


def metrics(c: Coserve) -> str:
    with urllib.request.urlopen(f"{c.url}/metrics", timeout=10) as r:
        return str(r.read().decode())


@pytest.mark.parametrize("workers", [1, 2])
def test_an_idle_container_stops_and_a_request_wakes_it(tmp_path: Path, workers: int) -> None:
    sleepy, sleepy_own = echo_container("sleepy")
    steady, steady_own = echo_container("steady")
    doc = {
        "EndpointName": "idling", "Containers": [sleepy, steady], "InferenceExecutionConfig": {"Mode": "Direct"},
        "Coserve": {"Containers": {"sleepy": {**sleepy_own, "IdleTimeout": "2s", "WakeTimeout": "30s"},
                                   "steady": steady_own},
                    "Server": {"Workers": workers}},
    }  # fmt: skip
    c = start_coserve(doc, tmp_path)
    try:
        first, neighbour = invoke(c, "sleepy")["pid"], invoke(c, "steady")["pid"]
        group = memory_cgroup(first)
        assert group.name.endswith("sleepy") and group.is_dir()
        c.wait_state("sleepy", "IDLE", 30)
        wait_for(lambda: not alive(first), 30, "the idle container's process gone")
        wait_for(lambda: not group.exists(), 30, "the idle container's cgroup gone")
        assert c.state("steady") == "RUNNING" and alive(neighbour)
        assert c.ping()[0] == 200  # an idle container is not a sick endpoint: a request wakes it
        with ThreadPoolExecutor(3) as pool:
            woken = [d["pid"] for d in pool.map(lambda _: invoke(c, "sleepy"), range(3))]
        assert len(set(woken)) == 1 and first not in woken  # one new process: the three shared one wake
        assert c.state("sleepy") == "RUNNING"
        assert invoke(c, "steady")["pid"] == neighbour  # untouched throughout
        page = metrics(c)
        assert "coserve_component_wakes_total 1.0" in page
        wait_for(lambda: "coserve_component_time_to_wake_seconds_count 1.0" in metrics(c), 10, "the wake's time")
    finally:
        assert c.stop() == 0


def test_a_serial_chain_wakes_its_idle_member(tmp_path: Path) -> None:
    first, first_own = echo_container("first")
    second, second_own = echo_container("second")
    doc = {
        "EndpointName": "chain", "Containers": [first, second], "InferenceExecutionConfig": {"Mode": "Serial"},
        "Coserve": {"Containers": {"first": first_own, "second": {**second_own, "IdleTimeout": "1s"}}},
    }  # fmt: skip
    c = start_coserve(doc, tmp_path)
    try:
        c.wait_state("second", "IDLE", 30)
        assert c.state("first") == "RUNNING"
        r = c.client().invoke_endpoint(EndpointName=c.endpoint, Body=b"{}")
        assert json.loads(r["Body"].read())["container"] == "second"  # the chain's last answered, woken
        assert c.state("second") == "RUNNING"
    finally:
        assert c.stop() == 0
