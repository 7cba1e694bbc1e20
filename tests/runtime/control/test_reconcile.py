"""The reconciler's order of steps against a FAKE fleet (no processes: the live test in test_live_boto3.py
runs the real one) and a real store: create, blue/green update, rollback, delete during a start, restart."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.config import Deployment
from runtime.control.context import Context
from runtime.control.ops import Operations
from runtime.control.reconcile import Generation, Progress, Reconciler
from runtime.control.store import Store
from tests.runtime.control.helpers import config, model


@dataclass
class FakeFleet:
    """Generations that start when the test says so; every call recorded in order."""

    refuse: str | None = None
    phases: dict[Generation, Progress] = field(default_factory=dict)
    deployments: dict[Generation, Deployment] = field(default_factory=dict)
    routes: dict[str, Generation | None] = field(default_factory=dict)
    retired: list[Generation] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def launch(self, gen: Generation, deployment: Deployment, now: float) -> str | None:
        if self.refuse is not None:
            return self.refuse
        self.phases[gen] = Progress(1, 0, 0)
        self.deployments[gen] = deployment
        self.calls.append(f"launch {gen.endpoint}#{gen.serial}")
        return None

    def progress(self, gen: Generation) -> Progress:
        return self.phases[gen]

    def route(self, endpoint: str, gen: Generation | None) -> None:
        self.routes[endpoint] = gen
        self.calls.append(f"route {endpoint} -> {gen.serial if gen else None}")

    def retire(self, gen: Generation, now: float) -> None:
        self.retired.append(gen)
        self.calls.append(f"retire {gen.endpoint}#{gen.serial}")

    def gone(self, gen: Generation) -> bool:
        return gen in self.retired

    def ready(self, serial: int) -> None:
        self._set(serial, Progress(1, 1, 0))

    def fail(self, serial: int, reason: str) -> None:
        self._set(serial, Progress(1, 0, 1, reason))

    def _set(self, serial: int, progress: Progress) -> None:
        (gen,) = [g for g in self.phases if g.serial == serial]
        self.phases[gen] = progress


def setup(store: Store) -> Operations:
    ops = Operations(Context(store))
    ops.call("CreateModel", model("m1"))
    ops.call("CreateModel", model("m2", url="file:///srv/models/v2.tar.gz"))
    ops.call("CreateEndpointConfig", config("c1", "m1"))
    ops.call("CreateEndpointConfig", config("c2", "m2"))
    return ops


def status(store: Store, name: str = "ep") -> tuple[str, str | None, str]:
    e = store.endpoint(name)
    assert e is not None
    return e.status, e.failure_reason, e.config_name


def test_create_routes_only_once_every_container_is_ready(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)  # FakeFleet is structurally a Fleet: mypy checks the argument
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    assert fleet.calls == ["launch ep#1"] and status(store)[0] == "Creating"
    assert fleet.deployments[Generation("ep", 1)].endpoint_name == "ep"
    r.tick(2.0)
    assert "ep" not in fleet.routes and not r.serving("ep")
    fleet.ready(1)
    r.tick(3.0)
    assert fleet.routes["ep"] == Generation("ep", 1) and r.serving("ep")
    assert status(store) == ("InService", None, "c1")


def test_update_is_blue_green_and_the_old_generation_retires_after_the_switch(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.ready(1)
    r.tick(2.0)
    ops.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
    r.tick(3.0)
    assert fleet.calls[-1] == "launch ep#2" and fleet.routes["ep"] == Generation("ep", 1)
    assert status(store)[0] == "Updating"
    fleet.ready(2)
    r.tick(4.0)
    assert fleet.calls[-2:] == ["route ep -> 2", "retire ep#1"]  # the switch first, then the old one goes
    assert status(store) == ("InService", None, "c2")


def test_a_failed_update_rolls_back_to_the_old_generation_with_the_reason(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.ready(1)
    r.tick(2.0)
    ops.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
    r.tick(3.0)
    fleet.fail(2, "container primary: gave up: model artifact not found")
    r.tick(4.0)
    assert fleet.routes["ep"] == Generation("ep", 1) and Generation("ep", 2) in fleet.retired
    assert Generation("ep", 1) not in fleet.retired
    assert status(store) == ("InService", "container primary: gave up: model artifact not found", "c1")


def test_a_failed_create_is_failed_with_the_reason_and_nothing_kept(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.fail(1, "container primary: did not pass the ping health check within 240s")
    r.tick(2.0)
    assert status(store)[:2] == ("Failed", "container primary: did not pass the ping health check within 240s")
    assert fleet.retired == [Generation("ep", 1)] and "ep" not in fleet.routes


def test_a_refused_launch_fails_the_create_with_the_fleets_reason(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet(refuse="needs 2.0 GiB of memory, 1.0 GiB is free")
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    assert status(store)[:2] == ("Failed", "needs 2.0 GiB of memory, 1.0 GiB is free")


def test_delete_during_a_create_retires_the_start_and_forgets_once_it_is_gone(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    ops.call("DeleteEndpoint", {"EndpointName": "ep"})
    r.tick(2.0)
    assert fleet.retired == [Generation("ep", 1)] and fleet.routes["ep"] is None
    r.tick(3.0)
    assert store.endpoint("ep") is None and not r.busy()


def test_delete_during_an_update_retires_both_generations(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.ready(1)
    r.tick(2.0)
    ops.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
    r.tick(3.0)
    ops.call("DeleteEndpoint", {"EndpointName": "ep"})
    r.tick(4.0)
    assert sorted(g.serial for g in fleet.retired) == [1, 2] and fleet.routes["ep"] is None
    r.tick(5.0)
    assert store.endpoint("ep") is None and list(r.generations()) == []


def test_restart_brings_back_what_ran_and_serves_only_once_ready(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    first = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    first.tick(1.0)
    fleet.ready(1)
    first.tick(2.0)
    fleet2 = FakeFleet()
    second = Reconciler(store, fleet2)
    assert second.restore(10.0) == []
    assert fleet2.calls == ["launch ep#1", "route ep -> 1"] and not second.serving("ep")
    assert fleet2.routes["ep"] == Generation("ep", 1)  # routed at once: its containers' states show
    assert status(store)[0] == "SystemUpdating"  # until they run again: a waiter for InService waits
    fleet2.ready(1)
    second.tick(11.0)
    assert second.serving("ep") and status(store) == ("InService", None, "c1")


def test_a_file_endpoint_at_start_is_routed_at_once_and_serves_on_without_a_given_up_container(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r = Reconciler(store, fleet)
    assert r.restore(1.0, eager=["ep"]) == []
    assert fleet.routes["ep"] == Generation("ep", 1) and status(store)[0] == "Creating"
    fleet.phases[Generation("ep", 1)] = Progress(2, 1, 1, "container b: gave up: 3 exits in a row")
    r.tick(2.0)
    assert status(store) == ("InService", "container b: gave up: 3 exits in a row", "c1")
    assert fleet.retired == [] and fleet.routes["ep"] == Generation("ep", 1)


def test_a_strict_generation_fails_at_its_first_given_up_container(store: Store) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(store, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.phases[Generation("ep", 1)] = Progress(2, 0, 1, "container a: gave up: model artifact not found")
    r.tick(2.0)
    assert status(store)[:2] == ("Failed", "container a: gave up: model artifact not found")
