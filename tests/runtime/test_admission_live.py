"""Requests and limits through a real coserve: refused with the numbers, overcommitted limits allowed, and under
real memory pressure the container furthest above its request is the one the kernel kills.

The pressure test runs coserve inside an instance-sized cgroup with a small memory limit (as the consolidation
benchmark does), so the limit that is hit is coserve's own, not the host's.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from benchmarks.instance import InstanceCgroup
from runtime.cgroups import memory_capacity
from runtime.units import format_size
from tests.runtime.metrics.scrape import scrape, value
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
MIB = 2**20
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creating a parent cgroup needs root")


def status(c: Coserve) -> dict[str, Any]:
    with urllib.request.urlopen(f"{c.url}/coserve/status", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def container(c: Coserve, hostname: str) -> dict[str, Any]:
    return next(x for x in status(c)["containers"] if x["hostname"] == hostname)


def invoke(c: Coserve, hostname: str, attrs: str) -> dict[str, Any]:
    r = c.client().invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname=hostname, Body=b"{}",
                                   CustomAttributes=attrs)  # fmt: skip
    return json.loads(r["Body"].read())  # type: ignore[no-any-return]


def test_requests_that_do_not_fit_are_refused_with_every_number(tmp_path: Path) -> None:
    capacity, where = memory_capacity()
    each = capacity * 6 // 10 // MIB * MIB  # two of these cannot fit; either alone would
    a, a_cfg = echo_container("a")
    b, b_cfg = echo_container("b")
    doc = {
        "EndpointName": "refused-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [a, b],
        "Coserve": {"Containers": {"a": {**a_cfg, "Memory": each * 2, "MemoryRequest": each}, "b": {**b_cfg,
                    "Memory": each}}, "Server": {"MemoryReserve": "64MiB"}},
    }  # fmt: skip
    c = start_coserve(doc, tmp_path, wait_ready=False)
    assert c.proc.wait(30) != 0
    log = c.log.read_text()
    assert "the containers' requests do not fit this host" in log
    assert f"memory requests need {format_size(2 * each)} (a {format_size(each)}, b {format_size(each)})" in log
    assert f"capacity is {format_size(capacity)} ({where})" in log
    assert (
        f"reserve 64.0MiB (Coserve.Server.MemoryReserve, for coserve itself), free {format_size(capacity - 64 * MIB)}"
        in log
    )
    assert not (tmp_path / "run" / "routes.json").exists(), "refused before anything started"


@pytest.fixture
def squeezed(tmp_path: Path) -> Iterator[Coserve]:
    """coserve in a 512 MiB cgroup: steady asks 256 MiB, greedy 32 MiB, both may use 400 MiB."""
    parent = InstanceCgroup(f"coserve-test-pressure-{os.getpid()}", float(os.cpu_count() or 1), 512 * MIB).create()
    steady, steady_cfg = echo_container("steady")
    greedy, greedy_cfg = echo_container("greedy")
    doc = {
        "EndpointName": "pressure-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [steady, greedy],
        "Coserve": {"Containers": {"steady": {**steady_cfg, "Memory": "400MiB", "MemoryRequest": "256MiB"},
                                   "greedy": {**greedy_cfg, "Memory": "400MiB", "MemoryRequest": "32MiB"}},
                    "Server": {"MemoryReserve": "128MiB", "BackoffBase": "0.2s"}},
    }  # fmt: skip
    try:
        c = start_coserve(doc, tmp_path, prefix=parent.prologue([]))
        try:
            yield c
        finally:
            c.stop()
    finally:
        parent.remove()


@needs_root
def test_under_pressure_the_container_furthest_above_its_request_is_killed(squeezed: Coserve) -> None:
    host = status(squeezed)["host"]
    assert host["capacity_bytes"] == 512 * MIB, "the limit of coserve's own cgroup is the capacity"
    assert (host["reserved_bytes"], host["overcommit_bytes"]) == (416 * MIB, 416 * MIB)
    assert "limits 800.0MiB overcommit it by 416.0MiB" in squeezed.log.read_text()
    m = scrape(squeezed.url)
    assert value(m, "coserve_container_memory_request_bytes", container="greedy") == 32 * MIB
    assert value(m, "coserve_container_memory_limit_bytes", container="greedy") == 400 * MIB
    assert (value(m, "coserve_host_memory_reserved_bytes"), value(m, "coserve_host_memory_free_bytes")) == (
        416 * MIB, 96 * MIB)  # fmt: skip
    # steady grows past its biggest neighbour but stays near its request; greedy is small but far above its own.
    held = invoke(squeezed, "steady", "hold=250")
    assert Path(f"/proc/{held['pid']}/oom_score_adj").read_text().strip() == "500"
    greedy_pid = invoke(squeezed, "greedy", "hold=1")["pid"]
    assert Path(f"/proc/{greedy_pid}/oom_score_adj").read_text().strip() == "938"
    killed = False
    for _ in range(40):  # 20 MiB at a time, until the 512 MiB the cgroup has runs out
        try:
            invoke(squeezed, "greedy", "hold=20")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ModelError"
            killed = True
            break
    assert killed, "greedy grew by 800 MiB inside 512 MiB without being stopped"
    wait_for(lambda: container(squeezed, "greedy")["oom_kills"] >= 1, 10, "greedy's OOM kill in its cgroup")
    squeezed.wait_state("greedy", "RUNNING")
    note = "'greedy' RUNNING -> EXITED: exited: (killed by the OOM killer under memory pressure from outside " \
           "the container, below its own limit (400.0MiB; request 32.0MiB); not expected)"  # fmt: skip
    assert note in squeezed.log.read_text()
    after = container(squeezed, "steady")
    assert (after["oom_kills"], after["restarts"], after["state"]) == (0, 0, "RUNNING")
    again = invoke(squeezed, "steady", "hold=0")
    assert (again["pid"], again["holding_mib"]) == (held["pid"], 250), "steady kept serving, memory and all"
