"""The supervisor side of components, tick by tick, against a real state store and a fake supervisor (the
supervisor's own tests cover processes; here each copy's state is set by hand): copies started and settled,
idleness and wake through the signal files, a wake that does not fit evicting the least recently used, a new
Specification's blue/green switch and its rollback, deletion."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from runtime.config import ServerSettings
from runtime.control.context import Context
from runtime.control.ops import Operations
from runtime.control.store import Store
from runtime.copies.controller import ComponentController
from runtime.routing import EndpointTable, HostTable
from runtime.supervisor import State, Supervisor
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.units import ContainerStatus, Unit

MIB = 2**20


class FakeSupervisor:
    """Units by key with a state each; admission is a memory budget over the units' requests."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.units: dict[ContainerKey, Unit] = {}
        self.state: dict[ContainerKey, State] = {}

    def add(self, units: Sequence[Unit], now: float) -> None:
        held = sum(u.spec.limits.memory_request_bytes or 0 for u in self.units.values())
        need = sum(u.spec.limits.memory_request_bytes or 0 for u in units)
        if held + need > self.budget:
            raise ValueError(f"do not fit: need {need}, free {self.budget - held}")
        for u in units:
            self.units[u.key], self.state[u.key] = u, State.FETCHING

    def stop(self, keys: Iterable[ContainerKey], now: float) -> None:
        for k in keys:
            self.state[k] = State.STOPPED

    def stopped(self, keys: Iterable[ContainerKey]) -> bool:
        return all(self.state[k] is State.STOPPED for k in keys)

    def forget(self, keys: Iterable[ContainerKey]) -> None:
        for k in keys:
            del self.units[k], self.state[k]

    def states(self, keys: Collection[ContainerKey] | None = None) -> dict[ContainerKey, State]:
        return {k: self.state[k] for k in (self.state if keys is None else keys)}

    def routes(self, keys: Iterable[ContainerKey] | None = None) -> tuple[ContainerStatus, ...]:
        chosen = list(self.state) if keys is None else list(keys)
        return tuple(ContainerStatus(k, k.hostname, 1000 + i, self.state[k], Path("/dev/null"))
                     for i, k in enumerate(chosen))  # fmt: skip

    def run_all(self) -> None:
        for k, s in self.state.items():
            if s is State.FETCHING:
                self.state[k] = State.RUNNING


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def host(tmp_path: Path) -> tuple[Operations, FakeSupervisor, ComponentController, Clock]:
    store = Store(tmp_path).open()
    ops = Operations(Context(store))
    ops.call("CreateEndpointConfig", {"EndpointConfigName": "cfg", "ProductionVariants": [
        {"VariantName": "AllTraffic", "InstanceType": "ml.c5.large", "InitialInstanceCount": 1}]})  # fmt: skip
    ops.call("CreateEndpoint", {"EndpointName": "host", "EndpointConfigName": "cfg"})
    sup, clock = FakeSupervisor(300 * MIB), Clock()
    server = ServerSettings(log_dir=tmp_path / "logs", drain_timeout_s=0.0)
    controller = ComponentController(store, cast(Supervisor, sup), server, wall=clock)
    controller.start()
    return ops, sup, controller, clock


def create(ops: Operations, name: str, copies: int, idle: str | None = None, image: str = "process") -> None:
    ops.call("CreateInferenceComponent", {
        "InferenceComponentName": name, "EndpointName": "host",
        "Specification": {"Container": {"Image": image},
                          "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128}},
        "RuntimeConfig": {"CopyCount": copies},
        "Tags": [{"Key": "coserve:IdleTimeout", "Value": idle}] if idle else [],
    })  # fmt: skip


def describe(ops: Operations, name: str) -> tuple[str, int, int]:
    d: dict[str, Any] = ops.call("DescribeInferenceComponent", {"InferenceComponentName": name})
    return d["InferenceComponentStatus"], d["RuntimeConfig"]["DesiredCopyCount"], d["RuntimeConfig"]["CurrentCopyCount"]


def settle(controller: ComponentController, sup: FakeSupervisor, ticks: int = 3) -> None:
    for i in range(ticks):
        controller.tick(float(i))
        sup.run_all()
    controller.tick(float(ticks))


def test_copies_start_settle_and_are_routed(host: Any) -> None:
    ops, sup, controller, _ = host
    create(ops, "a", 2)
    controller.tick(0.0)
    assert describe(ops, "a") == ("Creating", 2, 0) and len(sup.units) == 2
    settle(controller, sup)
    assert describe(ops, "a") == ("InService", 2, 2)
    table = controller.table(HostTable((EndpointTable("host", "AllTraffic", "Direct", ()),), 0))
    hosting = table.endpoint("host")
    assert hosting is not None and hosting.components is not None
    (a,) = hosting.components
    assert (a.name, a.desired, [r.state for r in a.routes]) == ("a", 2, ["RUNNING", "RUNNING"])
    assert {k.hostname for k in sup.units} == {"a-1", "a-2"}
    assert {u.spec.limits.memory_request_bytes for u in sup.units.values()} == {128 * MIB}


def test_idle_stops_copies_and_a_wake_starts_one(host: Any) -> None:
    ops, sup, controller, clock = host
    create(ops, "a", 1, idle="10s")
    settle(controller, sup)
    assert describe(ops, "a") == ("InService", 1, 1)
    clock.now += 11
    settle(controller, sup)
    assert describe(ops, "a") == ("InService", 1, 0) and not sup.units
    controller.signals.wake("a")
    settle(controller, sup)
    assert describe(ops, "a") == ("InService", 1, 1)
    assert controller.stats.wakes == 1 and controller.stats.woken == 1


def test_a_wake_that_does_not_fit_evicts_the_least_recently_used(host: Any) -> None:
    ops, sup, controller, clock = host
    create(ops, "a", 1, idle="10s")
    settle(controller, sup)
    clock.now += 11
    settle(controller, sup)  # a sleeps
    create(ops, "b", 1, idle="1h")
    create(ops, "c", 1, idle="1h")
    settle(controller, sup)  # b and c hold 256 of 300 MiB
    clock.now += 1
    controller.signals.seen("c")  # c was used after b
    controller.signals.wake("a")
    settle(controller, sup, ticks=4)
    assert describe(ops, "a")[2] == 1 and describe(ops, "b")[2] == 0 and describe(ops, "c")[2] == 1
    assert controller.stats.evictions == 1


def test_a_new_specification_switches_when_its_copies_run_and_rolls_back_if_one_gives_up(host: Any) -> None:
    ops, sup, controller, _ = host
    create(ops, "a", 1)
    settle(controller, sup)
    (old,) = sup.units
    spec = {"Container": {"Image": "process", "Environment": {"V": "2"}},
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128}}  # fmt: skip
    ops.call("UpdateInferenceComponent", {"InferenceComponentName": "a", "Specification": spec})
    controller.tick(10.0)
    assert describe(ops, "a")[0] == "Updating" and len(sup.units) == 2  # beside the old one
    settle(controller, sup)
    assert describe(ops, "a") == ("InService", 1, 1) and old not in sup.units
    (new,) = sup.units
    assert sup.units[new].spec.environment == {"V": "2"}

    spec["Container"]["Environment"] = {"V": "3"}
    ops.call("UpdateInferenceComponent", {"InferenceComponentName": "a", "Specification": spec})
    controller.tick(20.0)
    (third,) = set(sup.units) - {new}
    sup.state[third] = State.FATAL
    settle(controller, sup)
    d = ops.call("DescribeInferenceComponent", {"InferenceComponentName": "a"})
    assert d["InferenceComponentStatus"] == "InService" and "gave up" in d["FailureReason"]
    assert d["Specification"]["Container"]["Environment"] == {"V": "2"} and set(sup.units) == {new}


def test_delete_stops_every_copy_then_the_row_goes(host: Any) -> None:
    ops, sup, controller, _ = host
    create(ops, "a", 2)
    settle(controller, sup)
    ops.call("DeleteInferenceComponent", {"InferenceComponentName": "a"})
    settle(controller, sup)
    assert not sup.units and ops.call("ListInferenceComponents", {})["InferenceComponents"] == []
