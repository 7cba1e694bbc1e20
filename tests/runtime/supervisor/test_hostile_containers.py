"""Faulty containers, with real processes: what the supervisor's unit tests only show with a fake OS.

Each test asserts the exact lifecycle lines coserve wrote, and that no process or cgroup is left behind.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.leftovers import container_processes, lifecycle, snapshot
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration


def deployment(hostname: str, server: dict[str, Any], **env: str) -> dict[str, Any]:
    spec, cfg = echo_container(hostname, **env)
    return {"EndpointName": "hostile-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [spec],
            "Coserve": {"Containers": {hostname: cfg}, "Server": server}}  # fmt: skip


def invoke(c: Coserve, hostname: str, attrs: str | None = None) -> dict[str, Any]:
    kw = {"CustomAttributes": attrs} if attrs else {}
    r = c.client().invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname=hostname, Body=b"{}", **kw)
    return json.loads(r["Body"].read())  # type: ignore[no-any-return]


def exits(c: Coserve, hostname: str) -> list[str]:
    return [line for line in lifecycle(c, hostname) if "-> EXITED" in line]


def test_a_stable_run_forgets_earlier_crashes(tmp_path: Path) -> None:
    """StartRetries 1, StableAfter 1s: a server that runs 3.5 s and then crashes is restarted every time
    (2.5 s of margin for a slow start on a busy machine)."""
    doc = deployment("flaky", {"StartRetries": 1, "StableAfter": "1s", "BackoffBase": "0.2s"}, ECHO_CRASH_AFTER="3.5")
    c = start_coserve(doc, tmp_path)
    snap = snapshot(c)
    try:
        wait_for(lambda: len(exits(c, "flaky")) >= 3, 40, "three crashes after stable runs")
        c.wait_state("flaky", "RUNNING", 20)
        snap.add(container_processes(c, "flaky"))
        lines = lifecycle(c, "flaky")
        assert not [line for line in lines if "FATAL" in line], lines
        assert exits(c, "flaky")[:3] == ["RUNNING -> EXITED: exited: (exit status 1; not expected)"] * 3
        assert [line for line in lines if "-> BACKOFF" in line][:3] == ["EXITED -> BACKOFF: restart 1 of 1 in 0.2s"] * 3
    finally:
        assert c.stop() == 0
    snap.assert_gone()


def test_crashes_inside_the_default_window_still_end_fatal(tmp_path: Path) -> None:
    """The same server with the default 60-s window: its second crash is its second exit in a row."""
    doc = deployment("flaky", {"StartRetries": 1, "BackoffBase": "0.2s"}, ECHO_CRASH_AFTER="1")
    c = start_coserve(doc, tmp_path)
    snap = snapshot(c)
    try:
        c.wait_state("flaky", "FATAL", 30)
        assert [line for line in lifecycle(c, "flaky") if "-> BACKOFF" in line or "FATAL" in line] == [
            "EXITED -> BACKOFF: restart 1 of 1 in 0.2s",
            "EXITED -> FATAL: gave up: 2 exits in a row, the last: exit status 1",
        ]
        assert container_processes(c, "flaky") == []
    finally:
        assert c.stop() == 0
    snap.assert_gone()


def test_stop_grace_escalates_to_sigkill(tmp_path: Path) -> None:
    c = start_coserve(deployment("stubborn", {"StopGrace": "1s"}, ECHO_MODE="ignore-term"), tmp_path)
    snap = snapshot(c)
    wait_for(lambda: "ignoring SIGTERM" in (tmp_path / "logs" / "stubborn.log").read_text(), 10, "the handler")
    started = time.monotonic()
    assert c.stop(30) == 0
    took = time.monotonic() - started
    assert lifecycle(c, "stubborn")[-2:] == [
        "RUNNING -> STOPPING: stopping: sent SIGTERM",
        "STOPPING -> STOPPED: stopped: (terminated by SIGKILL)",
    ]
    assert "killing 'stubborn'" in c.log.read_text() and "did not stop within the grace period" in c.log.read_text()
    assert 1.0 <= took < 20, f"SIGKILL after the 1 s grace, not later (took {took:.1f}s)"
    snap.assert_gone()


def test_startup_timeout_kills_a_server_that_never_gets_ready(tmp_path: Path) -> None:
    doc = deployment("sleepy", {"StartupTimeout": "1s", "StartRetries": 0}, ECHO_MODE="unready")
    c = start_coserve(doc, tmp_path, wait_ready=False)
    try:
        wait_for(lambda: container_processes(c, "sleepy"), 10, "the server to be spawned")
        snap = snapshot(c)
        c.wait_state("sleepy", "FATAL", 30)
        assert lifecycle(c, "sleepy")[-2:] == [
            "STARTING -> EXITED: exited: (did not pass the ping health check within 1s; not expected)",
            "EXITED -> FATAL: gave up: 1 exit in a row, the last: did not pass the ping health check within 1s",
        ]
        snap.assert_processes_gone()  # killed while coserve runs on; its cgroup stays until coserve stops
        assert container_processes(c, "sleepy") == []
    finally:
        assert c.stop() == 0
    snap.assert_gone()


def test_three_failed_pings_restart_a_running_server(tmp_path: Path) -> None:
    c = start_coserve(deployment("wobbly", {"PingInterval": "0.2s", "BackoffBase": "0.2s"}), tmp_path)
    snap = snapshot(c)
    try:
        first = invoke(c, "wobbly", "sick=1")["pid"]  # from now on its /ping answers 500
        wait_for(lambda: exits(c, "wobbly"), 20, "the restart after failed pings")
        c.wait_state("wobbly", "RUNNING", 20)
        assert exits(c, "wobbly") == ["RUNNING -> EXITED: exited: (failed 3 health checks in a row; not expected)"]
        assert "EXITED -> BACKOFF: restart 1 of 5 in 0.2s" in lifecycle(c, "wobbly")
        second = invoke(c, "wobbly")["pid"]
        assert second != first
        snap.add(container_processes(c, "wobbly"))
    finally:
        assert c.stop() == 0
    snap.assert_gone()


def test_sigterm_drains_a_slow_request_in_flight(tmp_path: Path) -> None:
    c = start_coserve(deployment("slow", {"StopGrace": "5s"}), tmp_path)
    snap = snapshot(c)
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            answers.append(invoke(c, "slow", "sleep=2"))
        except Exception as exc:  # the assertion below reports it
            errors.append(exc)

    caller = threading.Thread(target=slow)
    caller.start()
    wait_for(lambda: "echo: sleeping 2s" in (tmp_path / "logs" / "slow.log").read_text(), 10, "the request in flight")
    assert c.stop(30) == 0
    caller.join(10)
    assert errors == [] and len(answers) == 1 and answers[0]["container"] == "slow"
    log = c.log.read_text()
    assert log.index("shutting down: draining") < log.index("stopping: sent SIGTERM")
    assert lifecycle(c, "slow")[-1] == "STOPPING -> STOPPED: stopped: (terminated by SIGTERM)"
    snap.assert_gone()
