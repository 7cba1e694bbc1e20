"""Fail fast, and an engine's cleanup, against the supervisor's fake OS seam and a fake clock."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import adapters
from runtime.config import parse_deployment
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.isolation import ProcessGroupOnly
from runtime.supervisor.osproc import TAIL_LINES, RealOs
from tests.runtime.supervisor.test_supervisor import FakeOs, FakeWork, FileSupervisor
from tests.support import wait_for


def make(tmp_path: Path, image: str = "process") -> tuple[FileSupervisor, FakeOs, FakeWork, list[Event]]:
    d = parse_deployment({
        "EndpointName": "ep",
        "Containers": [{"ContainerHostname": "a", "Image": image}],
        "Coserve": {"Containers": {"a": {"Command": ["srv"]} if image == "process" else {}},
                    "Server": {"StartRetries": 5, "BackoffBase": 1, "PortBase": 30000, "PortBlock": 10,
                               "LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}},
    })  # fmt: skip
    events: list[Event] = []
    os_, work = FakeOs(), FakeWork()
    sup = FileSupervisor(d, os_, work, ProcessGroupOnly(), events.append)
    sup.start(0.0)
    work.finish("fetch:a", tmp_path)
    sup.tick(0.0)
    return sup, os_, work, events


def crash(sup: Supervisor, os_: FakeOs, now: float, code: int, *lines: str) -> None:
    """The process writes `lines` and exits with `code`; then the supervisor waits out the backoff."""
    os_.handles["a"].lines = list(lines)
    os_.handles["a"].returncode = code
    sup.tick(now)
    c = sup.containers[0]
    if c.state is State.BACKOFF:
        sup.tick(c.retry_at)


def test_the_same_failure_twice_before_a_ping_is_fatal_at_once(tmp_path: Path) -> None:
    sup, os_, _, events = make(tmp_path)
    error = "ModuleNotFoundError: No module named 'tensorflow_serving'"
    crash(sup, os_, 1.0, 1, "Traceback (most recent call last):", error)
    assert sup.containers[0].state is State.STARTING, "the first failure is retried"
    crash(sup, os_, 5.0, 1, "Traceback (most recent call last):", error)
    assert sup.containers[0].state is State.FATAL
    assert len(os_.spawned) == 2, "not restarted into the same error"
    assert events[-1].message == (
        "gave up: failed the same way twice in a row before answering a ping: "
        f"Traceback (most recent call last): / {error} (exit status 1)"
    )


def test_a_silent_failure_compares_exit_statuses(tmp_path: Path) -> None:
    sup, os_, _, events = make(tmp_path)
    crash(sup, os_, 1.0, 2)
    crash(sup, os_, 5.0, 2)
    assert sup.containers[0].state is State.FATAL
    assert events[-1].message.endswith("before answering a ping: no output (exit status 2)")


@pytest.mark.parametrize("second", [("other line", 1), ("same line", 3)])
def test_different_failures_back_off_as_before(tmp_path: Path, second: tuple[str, int]) -> None:
    sup, os_, _, _ = make(tmp_path)
    crash(sup, os_, 1.0, 1, "same line")
    crash(sup, os_, 5.0, second[1], second[0])
    assert sup.containers[0].state is State.STARTING and len(os_.spawned) == 3


def test_a_start_that_answered_a_ping_breaks_the_series(tmp_path: Path) -> None:
    sup, os_, work, _ = make(tmp_path)
    crash(sup, os_, 1.0, 1, "boom")
    work.finish("probe:a", True)
    sup.tick(2.0)
    assert sup.containers[0].state is State.RUNNING
    crash(sup, os_, 3.0, 1, "boom")  # from RUNNING: a crash, not a failed start
    crash(sup, os_, 10.0, 1, "boom")  # the first failed start of a new series
    assert sup.containers[0].state is State.STARTING


def test_exits_we_caused_do_not_count(tmp_path: Path) -> None:
    sup, os_, _, _ = make(tmp_path)
    for now in (300.0, 600.0):  # past StartupTimeout (240 s): killed by us, twice, the same way
        sup.tick(now)
        crash(sup, os_, now + 0.1, -9, "still loading")
    assert sup.containers[0].state is State.STARTING, "a slow start is retried up to StartRetries"


def test_an_engines_cleanup_runs_after_each_exit_and_the_next_start_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapters, "podman_path", lambda: "/usr/bin/podman")
    sup, os_, _, _ = make(tmp_path, image="localhost/byo:1")
    [(_, run, _)] = os_.spawned
    assert run[8] == "run" and run[-2:] == ["localhost/byo:1", "serve"]
    os_.handles["a"].returncode = 137
    sup.tick(1.0)
    _, cleanup, _ = os_.spawned[-1]
    assert cleanup[:2] == ["/bin/sh", "-c"] and "coserve-ep-a" in cleanup
    cleaner = os_.handles["a"]  # FakeOs keeps the last handle per hostname: the cleanup's
    c = sup.containers[0]
    sup.tick(c.retry_at + 1)
    assert c.state is State.BACKOFF and len(os_.spawned) == 2, "no start while the cleanup runs"
    cleaner.returncode = 0
    sup.tick(c.retry_at + 2)
    assert c.state is State.STARTING and os_.spawned[-1][1][8] == "run"
    sup.begin_stop(20.0)
    os_.handles["a"].returncode = -15
    sup.tick(20.1)
    assert c.state is State.STOPPED and not sup.all_stopped(), "shutdown waits for the last cleanup"
    stuck = os_.handles["a"]
    sup.tick(20.1 + 61)
    assert (stuck.pid, signal.SIGKILL) in os_.signals, "a stuck cleanup is killed"
    stuck.returncode = -9
    sup.tick(20.1 + 62)
    assert sup.all_stopped()


def test_the_real_os_keeps_the_last_lines_a_process_wrote(tmp_path: Path) -> None:
    os_ = RealOs()
    script = f"for i in $(seq 1 {TAIL_LINES + 5}); do echo line $i; done; echo; echo '  last words  ' >&2; exit 3"
    handle = os_.spawn("t", ["/bin/sh", "-c", script], {"PATH": "/usr/bin:/bin"}, tmp_path, tmp_path / "t.log")
    assert wait_for(lambda: handle.poll() is not None, 10, "the process to exit")
    lines = handle.last_lines()
    assert len(lines) == TAIL_LINES and lines[-1] == "  last words" and lines[-2] == f"line {TAIL_LINES + 5}"
    os_.close()
