"""A unit's own start and fetch bounds (an API endpoint's, runtime.control.desired), against the fake OS seam and a
fake clock: they hold for that unit alone, the host's StartupTimeout for the rest, and a FailureReason names them."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from runtime.config import Deployment, parse_deployment
from runtime.control.desired import to_deployment
from runtime.control.reconcile import Generation
from runtime.control.records import Snapshot
from runtime.fleet import SupervisorFleet
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.isolation import ProcessGroupOnly
from runtime.supervisor.keys import WorkKey, WorkKind
from runtime.supervisor.units import deployment_units
from tests.runtime.control.helpers import config, model
from tests.runtime.supervisor.test_dynamic_set import deployment
from tests.runtime.supervisor.test_supervisor import FakeOs, FakeWork


@pytest.fixture
def host(tmp_path: Path) -> tuple[Deployment, Supervisor, FakeOs, FakeWork, list[Event]]:
    """Two containers whose Coserve.Server leaves StartupTimeout at its default, 240 s."""
    d, os_, work, events = deployment(tmp_path), FakeOs(), FakeWork(), list[Event]()
    return d, Supervisor(d.server, os_, work, ProcessGroupOnly(), events.append), os_, work, events


def test_a_units_startup_bound_holds_for_it_alone(host: Any, tmp_path: Path) -> None:
    d, sup, os_, work, events = host
    default = deployment_units(d)  # the host's StartupTimeout: 240 s
    own = tuple(replace(u, startup_timeout_s=60.0) for u in deployment_units(d, 2))
    sup.add(default + own, 0.0)
    for u in default + own:
        work.finish(f"fetch:{u.key}", tmp_path)
    sup.tick(0.0)
    sup.tick(60.0)
    assert not [s for s in os_.signals if s[1] is signal.SIGKILL], "within its bound"
    sup.tick(60.5)
    killed = {pid for pid, sig in os_.signals if sig is signal.SIGKILL}
    assert killed == {os_.by_dir[name].pid for name in ("a.2", "b.3")}, "only the units bound to 60 s"
    sup.tick(60.6)
    assert any(e.key == own[0].key and "within 60s" in e.message for e in events)
    sup.tick(240.5)
    sup.tick(240.6)
    assert {os_.by_dir["a.0"].pid, os_.by_dir["b.1"].pid} <= {p for p, s in os_.signals if s is signal.SIGKILL}
    assert any(e.key == default[0].key and "within 240s" in e.message for e in events)


def test_a_fetch_past_its_bound_gives_up_and_is_dropped(host: Any, tmp_path: Path) -> None:
    d, sup, os_, work, events = host
    bounded = tuple(replace(u, fetch_timeout_s=60.0) for u in deployment_units(d))
    free = deployment_units(d, 2)
    sup.add(bounded + free, 0.0)
    sup.tick(60.0)
    assert set(sup.states().values()) == {State.FETCHING}
    sup.tick(60.5)
    assert sup.states() == {**{u.key: State.FATAL for u in bounded}, **{u.key: State.FETCHING for u in free}}
    assert [e.message for e in events if e.key == bounded[0].key][-1] == (
        "gave up: the model data was not downloaded within 60s"
    )
    assert not work.busy(WorkKey(WorkKind.FETCH, bounded[0].key)), "its fetch is forgotten"
    assert os_.spawned == []


def test_an_endpoints_own_timeout_reaches_its_units_and_its_failure_reason(tmp_path: Path) -> None:
    """The path an API endpoint takes: its snapshot -> to_deployment -> the fleet's units -> the supervisor."""
    host = parse_deployment({"Coserve": {"Server": {
        "StartRetries": 0, "PortBase": 30000, "PortBlock": 10, "StartupTimeout": "10s",
        "LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}}})  # fmt: skip
    os_, work, events = FakeOs(), FakeWork(), list[Event]()
    sup = Supervisor(host.server, os_, work, ProcessGroupOnly(), events.append)
    fleet = SupervisorFleet(sup, host.server, None)
    request = model("m1", url=str(tmp_path))
    snapshot = Snapshot("c1", config("c1", ContainerStartupHealthCheckTimeoutInSeconds=90), {"m1": request})
    own, plain = Generation("slow", 1), Generation("plain", 1)
    assert fleet.launch(own, to_deployment("slow", snapshot), 0.0) is None
    assert fleet.launch(plain, to_deployment("plain", Snapshot("c1", config("c1"), {"m1": request})), 0.0) is None
    assert [u.unit.startup_timeout_s for u in sup.containers] == [90.0, None]
    for key in sup.states():
        work.finish(f"fetch:{key}", tmp_path)
    for now in (0.0, 10.5, 10.6, 90.5, 90.6):
        sup.tick(now)
        for e in events:
            fleet.on_event(e)
        events.clear()
    assert fleet.progress(plain).reason == (
        "container primary: gave up: 1 exit in a row, the last: did not pass the ping health check within 10s"
    )
    assert fleet.progress(own).reason == (
        "container primary: gave up: 1 exit in a row, the last: did not pass the ping health check within 90s"
    )
