"""A second Ctrl-C (or SIGTERM) during the drain: coserve exits at once, killing its containers, leaving nothing."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.rundir import RunDir
from tests.leftovers import snapshot
from tests.support import echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration


def deployment(workers: int) -> dict[str, Any]:
    # A request that outlasts the test, a drain and a grace period that would too, and a server that ignores
    # SIGTERM: only the forced path (no drain wait, SIGKILL at once) ends it promptly.
    spec, cfg = echo_container("slow", ECHO_MODE="ignore-term")
    server = {"DrainTimeout": "60s", "StopGrace": "60s", "Workers": workers}
    return {"EndpointName": "forced-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [spec],
            "Coserve": {"Containers": {"slow": cfg}, "Server": server}}  # fmt: skip


@pytest.mark.parametrize(("workers", "second", "code"), [(1, signal.SIGINT, 130), (2, signal.SIGTERM, 143)])
def test_a_second_signal_during_the_drain_exits_at_once(
    tmp_path: Path, workers: int, second: signal.Signals, code: int
) -> None:
    c = start_coserve(deployment(workers), tmp_path)
    snap = snapshot(c)
    failures: list[BaseException] = []

    def slow() -> None:
        try:
            c.client(fresh=True).invoke_endpoint(
                EndpointName=c.endpoint, TargetContainerHostname="slow", Body=b"{}", CustomAttributes="sleep=120"
            )
        except Exception as exc:  # expected: the forced exit drops it
            failures.append(exc)

    caller = threading.Thread(target=slow, daemon=True)
    caller.start()
    container_log = tmp_path / "logs" / "slow.log"
    wait_for(lambda: "echo: sleeping 120s" in container_log.read_text(), 15, "the request in flight")
    c.proc.send_signal(signal.SIGINT)
    wait_for(lambda: "shutting down: draining" in c.log.read_text(), 15, "the drain to begin")
    assert c.proc.poll() is None, "the first signal drains: the slow request holds the exit"
    c.proc.send_signal(second)
    started = time.monotonic()
    assert c.proc.wait(20) == code
    assert time.monotonic() - started < 15, "a forced exit skips the 60s drain and the 60s grace"
    log = c.log.read_text()
    assert f"second {second.name} during shutdown: exiting now" in log
    assert "killing 'slow'" in log, "the container ignores SIGTERM: it was SIGKILLed"
    snap.assert_gone()
    run = RunDir(tmp_path / "run")
    assert [p for p in (run.routes, run.stats, run.settings, run.prometheus) if p.exists()] == []
    caller.join(35)
    assert len(failures) == 1, "the request in flight was cut off, not answered"
    c.stop()
