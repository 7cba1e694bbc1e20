"""A running supervisor given sets of containers to add, stop and forget, against the fake OS seam and a
fake clock (tests/unit/test_supervisor.py): generations of one endpoint side by side with the same hostnames."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from runtime.config import Deployment, parse_deployment
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.isolation import ProcessGroupOnly
from runtime.supervisor.keys import ContainerKey, WorkKey, WorkKind
from runtime.supervisor.units import Unit, deployment_units
from tests.runtime.supervisor.test_supervisor import FakeOs, FakeWork


def deployment(tmp_path: Path) -> Deployment:
    return parse_deployment({
        "EndpointName": "ep", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "a", "Image": "process"}, {"ContainerHostname": "b", "Image": "process"}],
        "Coserve": {"Containers": {"a": {"Command": ["srv-a"]}, "b": {"Command": ["srv-b"]}},
                    "Server": {"PortBase": 30000, "PortBlock": 10, "StopGrace": "5s",
                               "LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}},
    })  # fmt: skip


@pytest.fixture
def host(tmp_path: Path) -> tuple[Deployment, Supervisor, FakeOs, FakeWork, list[Event]]:
    d, os_, work, events = deployment(tmp_path), FakeOs(), FakeWork(), list[Event]()
    return d, Supervisor(d.server, os_, work, ProcessGroupOnly(), events.append), os_, work, events


def bring_up(sup: Supervisor, work: FakeWork, units: tuple[Unit, ...], model: Path, now: float) -> None:
    sup.add(units, now)
    for u in units:
        work.finish(f"fetch:{u.key}", model)
    sup.tick(now)
    sup.tick(now)
    for u in units:
        work.finish(f"probe:{u.key}", True)
    sup.tick(now)
    assert set(sup.states([u.key for u in units]).values()) == {State.RUNNING}


def test_a_second_generation_runs_beside_the_first_then_the_first_goes(host: Any, tmp_path: Path) -> None:
    d, sup, os_, work, events = host
    first, second = deployment_units(d), deployment_units(d, 2)
    bring_up(sup, work, first, tmp_path, 0.0)
    assert [(r.hostname, r.port) for r in sup.routes()] == [("a", 30000), ("b", 30010)], "the file's own ports"
    bring_up(sup, work, second, tmp_path, 1.0)
    new = sup.routes([u.key for u in second])
    assert [(r.hostname, r.port) for r in new] == [("a", 30020), ("b", 30030)], "same hostnames, own ports"
    assert {"a.0", "b.1", "a.2", "b.3"} <= set(os_.by_dir), "a run dir per container: <hostname>.<port block>"
    old_pids = {os_.by_dir[d].pid for d in ("a.0", "b.1")}

    sup.stop([u.key for u in first], 2.0)
    assert {(pid, signal.SIGTERM) for pid in old_pids} == {s for s in os_.signals if s[1] is signal.SIGTERM}
    os_.by_dir["a.0"].returncode = -signal.SIGTERM  # a leaves on SIGTERM; b has to be killed
    sup.tick(3.0)
    assert sup.states([u.key for u in first]) == {first[0].key: State.STOPPED, first[1].key: State.STOPPING}
    sup.tick(7.1)
    assert (os_.by_dir["b.1"].pid, signal.SIGKILL) in os_.signals, "SIGKILL after StopGrace"
    sup.tick(7.2)
    assert sup.stopped([u.key for u in first])
    assert set(sup.states([u.key for u in second]).values()) == {State.RUNNING}, "the new generation untouched"
    assert not {s for s in os_.signals if s[0] in {os_.by_dir[d].pid for d in ("a.2", "b.3")}}

    sup.forget([u.key for u in first])
    assert list(sup.states()) == [u.key for u in second]
    third = deployment_units(d, 3)
    sup.add(third, 8.0)
    assert [r.port for r in sup.routes([u.key for u in third])] == [30000, 30010], "freed blocks are reused"
    restarted = [e for e in events if e.key in {u.key for u in first} and e.new is State.STARTING]
    assert len(restarted) == 2, "a stopped set is never restarted"


def test_forget_refuses_a_container_that_still_runs(host: Any, tmp_path: Path) -> None:
    d, sup, _, work, _ = host
    units = deployment_units(d)
    bring_up(sup, work, units, tmp_path, 0.0)
    with pytest.raises(ValueError, match=r"ep/1/a, ep/1/b are not stopped yet"):
        sup.forget([u.key for u in units])
    assert len(sup.routes()) == 2


def test_an_add_that_cannot_be_placed_leaves_nothing_behind(host: Any, tmp_path: Path) -> None:
    d, sup, _, work, _ = host
    first = deployment_units(d)
    bring_up(sup, work, first, tmp_path, 0.0)
    with pytest.raises(ValueError, match="already supervised"):
        sup.add(first, 1.0)
    clash = Unit(ContainerKey("other", 1, "a"), d.containers[0], tmp_path / "other.log", block=1)  # b's block
    fine = Unit(ContainerKey("other", 1, "b"), d.containers[1], tmp_path / "other-b.log")
    with pytest.raises(ValueError, match=r"other/1/b, other/1/a: port block 1 \(port 30010\) is not free"):
        sup.add([fine, clash], 1.0)
    assert [r.key for r in sup.routes()] == [u.key for u in first]
    sup.add([fine], 1.0)
    assert sup.routes([fine.key])[0].port == 30020, "the failed add took no block"


def test_stopping_while_fetching_drops_the_fetch(host: Any, tmp_path: Path) -> None:
    d, sup, os_, work, _ = host
    units = deployment_units(d)
    sup.add(units, 0.0)
    sup.stop([units[0].key], 0.5)
    assert sup.states([units[0].key]) == {units[0].key: State.STOPPED}
    assert not work.busy(WorkKey(WorkKind.FETCH, units[0].key)), "its fetch is forgotten"
    assert work.busy(WorkKey(WorkKind.FETCH, units[1].key))
    work.finish("fetch:ep/1/b", tmp_path)
    sup.tick(1.0)
    assert [h for h, _, _ in os_.spawned] == ["b"], "the stopped one never spawns"
    sup.forget([units[0].key])
    assert [r.hostname for r in sup.routes()] == ["b"]


def test_the_probe_carries_the_adapters_readiness_check(host: Any, tmp_path: Path) -> None:
    d, sup, _, work, _ = host
    sup.add(deployment_units(d)[:1], 0.0)
    work.finish("fetch:a", tmp_path)
    sup.tick(0.0)
    sup.tick(0.1)
    probe = work.probed[-1]
    assert probe.url == "http://127.0.0.1:30000/ping" and probe.timeout == d.server.ping_timeout_s
    assert probe.ready(200, b"") and not probe.ready(500, b""), "the process adapter's check, no lookup"


def test_lifecycle_lines_go_to_the_containers_own_log(host: Any, tmp_path: Path) -> None:
    d, sup, os_, work, _ = host
    units = deployment_units(d)
    bring_up(sup, work, units, tmp_path, 0.0)
    lines = [line.decode() for line in os_.logs[d.server.container_log("a")].lines]
    assert lines[0] == "coserve: STOPPED -> FETCHING: fetching no artifact"
    assert lines[1].startswith("coserve: FETCHING -> STARTING: spawned: 'a' pid=")
    assert lines[2].startswith("coserve: STARTING -> RUNNING: success: /ping answered 200")
