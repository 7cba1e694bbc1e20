"""The supervisor against a fake OS seam and a fake clock: every transition, no real processes."""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from runtime.config import Deployment, parse_deployment
from runtime.routing import ContainerRoute, EndpointTable, HostTable
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.isolation import Isolation, ProcessGroupOnly
from runtime.supervisor.keys import WorkKey, WorkKind
from runtime.supervisor.states import InvalidTransition, Lifecycle
from runtime.supervisor.units import Unit, deployment_units
from runtime.supervisor.work import Outcome, Probe


class FakeHandle:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.lines: list[str] = []  # what the fake process "wrote"

    def poll(self) -> int | None:
        return self.returncode

    def last_lines(self) -> list[str]:
        return self.lines


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        self.lines.append(line)


class FakeOs:
    def __init__(self) -> None:
        self.spawned: list[tuple[str, list[str], dict[str, str]]] = []
        self.handles: dict[str, FakeHandle] = {}  # the latest spawn of each hostname (or run dir, see by_dir)
        self.by_dir: dict[str, FakeHandle] = {}  # by the spawn's work dir name: its ContainerKey name
        self.signals: list[tuple[int, signal.Signals]] = []
        self.logs: dict[Path, FakeLog] = {}
        self.next_pid = 100

    def container_log(self, path: Path) -> FakeLog:
        return self.logs.setdefault(path, FakeLog())

    def spawn(self, hostname: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> FakeHandle:
        self.next_pid += 1
        self.spawned.append((hostname, argv, dict(env)))
        self.handles[hostname] = self.by_dir[cwd.name] = FakeHandle(self.next_pid)
        return self.handles[hostname]

    def signal_group(self, pid: int, sig: signal.Signals) -> None:
        self.signals.append((pid, sig))
        if sig in (signal.SIGTERM, signal.SIGKILL):
            for h in self.handles.values():
                if h.pid == pid and h.returncode is None and sig is signal.SIGKILL:
                    h.returncode = -9
            for h in self.by_dir.values():
                if h.pid == pid and h.returncode is None and sig is signal.SIGKILL:
                    h.returncode = -9


class FakeWork:
    """Work keyed as the supervisor keys it; a test names one as `fetch:<hostname>` or `probe:<hostname>`
    (the only container of that hostname), or as `fetch:<key>` with the key's `endpoint/generation/hostname`."""

    def __init__(self) -> None:
        self.results: dict[WorkKey, Outcome] = {}
        self.pending: set[WorkKey] = set()
        self.probes: list[str] = []  # the hostname of each probe started
        self.probed: list[Probe] = []
        self.fetched: list[Unit] = []

    def start_fetch(self, key: WorkKey, unit: Unit) -> None:
        self.pending.add(key)
        self.fetched.append(unit)

    def start_probe(self, key: WorkKey, probe: Probe) -> None:
        self.pending.add(key)
        self.probes.append(key.container.hostname)
        self.probed.append(probe)

    def _key(self, name: str) -> WorkKey:
        kind, _, who = name.partition(":")
        known = {k.container for k in (*self.pending, *self.results)} | {u.key for u in self.fetched}
        match = [k for k in known if who in (k.hostname, str(k))]
        assert len(match) == 1, f"{name}: {match}"
        return WorkKey(WorkKind(kind), match[0])

    def finish(self, name: str, value: Any = None, error: BaseException | None = None) -> None:
        key = self._key(name)
        self.pending.discard(key)
        self.results[key] = Outcome(value, error)

    def busy(self, key: WorkKey) -> bool:
        return key in self.pending

    def take(self, key: WorkKey) -> Outcome | None:
        return self.results.pop(key, None)

    def forget(self, key: WorkKey) -> None:
        self.pending.discard(key)
        self.results.pop(key, None)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FileSupervisor, FakeOs, FakeWork, list[Event]]:
    d = parse_deployment({
        "EndpointName": "ep", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "a", "Image": "process", "Environment": {"MINE": "1"}},
                       {"ContainerHostname": "b", "Image": "process"}],
        "Coserve": {"Containers": {"a": {"Command": ["srv-a"]}, "b": {"Command": ["srv-b"]}},
                    "Server": {"StartRetries": 2, "BackoffBase": 1, "BackoffMax": 3, "StartupTimeout": "10s",
                               "StopGrace": "5s", "PortBase": 30000, "PortBlock": 10,
                               "LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}},
    })  # fmt: skip
    events: list[Event] = []
    os_, work = FakeOs(), FakeWork()
    return FileSupervisor(d, os_, work, ProcessGroupOnly(), events.append), os_, work, events


class FileSupervisor(Supervisor):
    """The supervisor given the file's endpoint, as runtime.main gives it: start() adds its first generation."""

    def __init__(self, d: Deployment, os_: FakeOs, work: FakeWork, isolation: Isolation,
                 on_event: Callable[[Event], None] = lambda e: None) -> None:  # fmt: skip
        super().__init__(d.server, os_, work, isolation, on_event)
        self.d = d

    def start(self, now: float) -> None:
        self.add(deployment_units(self.d), now)

    def table(self) -> HostTable:
        routes = tuple(ContainerRoute(r.hostname, r.port, r.state.value, str(r.log_path)) for r in self.routes())
        return HostTable((EndpointTable(self.d.endpoint_name, self.d.variant_name, self.d.mode, routes),), self.version)


def bring_up(sup: FileSupervisor, work: FakeWork, tmp: Path, now: float = 0.0) -> None:
    sup.start(now)
    for h in ("a", "b"):
        work.finish(f"fetch:{h}", tmp)
    sup.tick(now)
    sup.tick(now)
    for h in ("a", "b"):
        work.finish(f"probe:{h}", True)
    sup.tick(now + 0.1)


def states(sup: Supervisor) -> dict[str, State]:
    return {c.spec.hostname: c.state for c in sup.containers}


def test_start_fetches_spawns_probes_and_runs(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, events = setup
    sup.start(0.0)
    assert states(sup) == {"a": State.FETCHING, "b": State.FETCHING}
    work.finish("fetch:a", tmp_path)
    sup.tick(0.1)
    assert states(sup)["a"] is State.STARTING and states(sup)["b"] is State.FETCHING
    hostname, argv, env = os_.spawned[0]
    assert (hostname, argv) == ("a", ["srv-a"])
    assert env["SAGEMAKER_BIND_TO_PORT"] == "30000" and env["SAGEMAKER_SAFE_PORT_RANGE"] == "30001-30009"
    assert env["MINE"] == "1" and env["SM_MODEL_DIR"] == str(tmp_path)
    sup.tick(0.15)
    assert work.probes == ["a"]
    sup.tick(0.16)
    assert work.probes == ["a"], "one probe in flight at a time"
    work.finish("probe:a", False)
    sup.tick(0.2)
    assert states(sup)["a"] is State.STARTING and work.probes == ["a", "a"]
    work.finish("probe:a", True)
    sup.tick(0.3)
    assert states(sup)["a"] is State.RUNNING
    assert [e.new for e in events if e.hostname == "a"] == [State.FETCHING, State.STARTING, State.RUNNING]
    table = sup.table()
    assert [(r.hostname, r.port, r.state) for r in table.endpoints[0].routes] == [
        ("a", 30000, "RUNNING"),
        ("b", 30010, "FETCHING"),
    ]


def test_ports_and_safe_ranges_are_disjoint(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, _ = setup
    bring_up(sup, work, tmp_path)
    ranges = []
    for _, _, env in os_.spawned:
        lo, hi = map(int, env["SAGEMAKER_SAFE_PORT_RANGE"].split("-"))
        ranges.append({int(env["SAGEMAKER_BIND_TO_PORT"]), *range(lo, hi + 1)})
    assert not ranges[0] & ranges[1]


def test_a_crash_backs_off_with_growing_delay_then_gives_up(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, events = setup
    bring_up(sup, work, tmp_path)
    delays = []
    now = 1.0
    for attempt in range(3):
        os_.handles["a"].returncode = 1
        sup.tick(now)
        if attempt == 2:
            break
        c = sup.containers[0]
        assert c.state is State.BACKOFF
        delays.append(c.retry_at - now)
        sup.tick(c.retry_at - 0.01)
        assert c.state is State.BACKOFF, "must not restart before its time"
        now = c.retry_at
        sup.tick(now)
        assert c.state is State.STARTING
    assert delays == [1.0, 2.0]
    assert states(sup)["a"] is State.FATAL
    assert states(sup)["b"] is State.RUNNING, "the other container is untouched"
    lines = [e.message for e in events if e.hostname == "a"]
    assert "exited: (exit status 1; not expected)" in lines
    assert lines[-1] == "gave up: 3 exits in a row, the last: exit status 1"


def test_killed_by_signal_is_decoded_and_the_group_is_cleaned(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, events = setup
    bring_up(sup, work, tmp_path)
    pid = os_.handles["b"].pid
    os_.handles["b"].returncode = -signal.SIGKILL
    sup.tick(2.0)
    assert events[-2].message == "exited: (terminated by SIGKILL; not expected)"
    assert (pid, signal.SIGKILL) in os_.signals, "leftovers of the group are killed with the leader gone"


def test_startup_timeout_kills_and_counts_as_a_failed_start(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, events = setup
    sup.start(0.0)
    work.finish("fetch:a", tmp_path)
    sup.tick(0.0)
    sup.tick(10.5)
    assert (os_.handles["a"].pid, signal.SIGKILL) in os_.signals
    sup.tick(10.6)
    assert sup.containers[0].state is State.BACKOFF
    assert any("did not pass the ping health check within 10s" in e.message for e in events)


def test_failed_fetch_is_fatal_at_once(setup: Any) -> None:
    sup, _, work, events = setup
    sup.start(0.0)
    work.finish("fetch:a", error=RuntimeError("container a: model artifact s3://x/y: NoSuchKey"))
    sup.tick(0.1)
    assert sup.containers[0].state is State.FATAL
    assert events[-1].message == "gave up: container a: model artifact s3://x/y: NoSuchKey"


def test_a_running_container_that_stops_answering_pings_is_restarted(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, _ = setup
    bring_up(sup, work, tmp_path)
    now = 0.1
    for _ in range(3):
        now += sup.server.ping_interval_s
        sup.tick(now)
        work.finish("probe:a", False)
    sup.tick(now + 0.01)
    assert (os_.handles["a"].pid, signal.SIGKILL) in os_.signals


def test_shutdown_sigterms_then_sigkills_after_grace_and_never_restarts(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, _ = setup
    bring_up(sup, work, tmp_path)
    pa, pb = os_.handles["a"].pid, os_.handles["b"].pid
    sup.begin_stop(10.0)
    assert {(pa, signal.SIGTERM), (pb, signal.SIGTERM)} <= set(os_.signals)
    os_.handles["a"].returncode = -signal.SIGTERM
    sup.tick(11.0)
    assert states(sup) == {"a": State.STOPPED, "b": State.STOPPING}
    assert (pb, signal.SIGKILL) not in os_.signals
    sup.tick(15.1)
    assert (pb, signal.SIGKILL) in os_.signals
    sup.tick(15.2)
    assert sup.all_stopped()
    assert len(os_.spawned) == 2, "nothing restarts during shutdown"


def test_lifecycle_rejects_transitions_the_machine_does_not_have() -> None:
    life = Lifecycle("x", lambda e: None)
    with pytest.raises(InvalidTransition, match="STOPPED -> RUNNING"):
        life.to(State.RUNNING, "nope", 0.0)


def test_the_failed_start_count_is_forgotten_after_a_stable_run(setup: Any, tmp_path: Path) -> None:
    """StartRetries is 2: three crashes, each after 66 s RUNNING, are three separate incidents, not FATAL."""
    sup, os_, work, events = setup
    bring_up(sup, work, tmp_path)
    c, now = sup.containers[0], 0.1
    for crash in range(3):
        now += 66.0  # RUNNING since the last start, past the 60-s window
        os_.handles["a"].returncode = 1
        sup.tick(now)
        assert c.state is State.BACKOFF, f"crash {crash + 1} after a stable run must not count towards FATAL"
        assert c.failures == 1 and c.retry_at - now == 1.0, "the delay starts again from BackoffBase"
        now = c.retry_at
        sup.tick(now)
        work.finish("probe:a", True)
        sup.tick(now)
        assert c.state is State.RUNNING
    assert [e.message for e in events if e.hostname == "a" and e.new is State.BACKOFF] == ["restart 1 of 2 in 1s"] * 3


def test_a_crash_inside_the_window_still_counts(setup: Any, tmp_path: Path) -> None:
    sup, os_, work, _ = setup
    bring_up(sup, work, tmp_path)
    c, now = sup.containers[0], 0.1
    for _ in range(2):
        now += 59.0  # RUNNING, but not for the whole 60 s
        os_.handles["a"].returncode = 1
        sup.tick(now)
        now = c.retry_at
        sup.tick(now)
        work.finish("probe:a", True)
        sup.tick(now)
    assert c.failures == 2 and c.state is State.RUNNING
