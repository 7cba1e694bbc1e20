"""Metrics over a changing set of containers: members added and forgotten, two generations of one hostname side
by side, many endpoints, admission's ledger as it changes.

The cgroup figures are handed in by each test (fake Stats: the figures read from real cgroups are tested in
test_resources.py); the last test drives a real Supervisor over the fake OS seam of the supervisor's own tests.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from runtime.admission import Capacity, ledger
from runtime.cgroups import Stats
from runtime.cli.status import render
from runtime.config import MetricsConfig, parse_deployment
from runtime.metrics.collector import SnapshotCollector
from runtime.metrics.emf import EmfWriter
from runtime.metrics.hub import MetricsHub
from runtime.metrics.members import Member, deployment_members
from runtime.metrics.requests import RequestMetrics
from runtime.metrics.sampler import Sampler
from runtime.metrics.snapshot import Snapshot, SnapshotSource
from runtime.metrics.summary import summarize_endpoints
from runtime.router.invoke import Hop, Result
from runtime.rundir import RunDir
from runtime.storage.store import StoreStats
from runtime.supervisor import Event, State, Supervisor
from runtime.supervisor.isolation import ProcessGroupOnly
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.units import Unit, deployment_units
from tests.runtime.metrics import emf_spec
from tests.runtime.supervisor.test_supervisor import FakeOs, FakeWork

MIB, GIB = 2**20, 2**30


def deployment(name: str, hosts: tuple[str, ...], tmp: Path, mode: str = "Direct") -> Any:
    return parse_deployment({
        "EndpointName": name, "VariantName": f"{name}-v", "InferenceExecutionConfig": {"Mode": mode},
        "Containers": [{"ContainerHostname": h, "Image": "process"} for h in hosts],
        "Coserve": {"Containers": {h: {"Command": [h], "Memory": "1GiB"} for h in hosts},
                    "Server": {"PortBase": 31000, "PortBlock": 10, "StopGrace": "5s",
                               "LogDir": str(tmp / "logs"), "RunDir": str(tmp / "run")},
                    "Storage": {"CacheDir": str(tmp / "cache")}},
    })  # fmt: skip


def fake_stats(key: ContainerKey) -> Stats:
    """A different memory figure for each container, so a test sees whose figures it reads."""
    return Stats((10 * key.generation + len(key.endpoint)) * MIB, None, GIB, 0, 0, 1)


def event(key: ContainerKey, old: State, new: State, at: float = 1.0) -> Event:
    return Event(key.hostname, old, new, f"{old.value} -> {new.value}", at, key)


def sampler(members: list[Member], tmp: Path, book: Any = None) -> Sampler:
    return Sampler(lambda: members, fake_stats, lambda: StoreStats(0, 0, 0), 24 * GIB, tmp, lambda: book)


def series(snap: Snapshot) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(SnapshotSource(snap)))
    return {f.name: {frozenset(s.labels.items()): s.value for s in f.samples} for f in registry.collect()}


def labels(endpoint: str, variant: str, container: str, generation: int) -> frozenset[tuple[str, str]]:
    return frozenset({"endpoint": endpoint, "variant": variant, "container": container,
                      "generation": str(generation)}.items())  # fmt: skip


def test_a_member_added_later_is_sampled_and_a_forgotten_one_leaves_no_book_and_no_series(tmp_path: Path) -> None:
    d, other = deployment("ep", ("a",), tmp_path), deployment("other", ("x", "y"), tmp_path, "Serial")
    members = list(deployment_members(d))
    s = sampler(members, tmp_path)
    first = members[0].key
    s.on_event(event(first, State.STOPPED, State.FETCHING))
    later = deployment_members(other)[0]
    s.on_event(event(later.key, State.STOPPED, State.FETCHING))  # told before it is listed: no KeyError
    members.append(later)
    s.on_event(event(later.key, State.FETCHING, State.STARTING, 2.0))
    s.on_event(event(later.key, State.STARTING, State.RUNNING, 2.5))
    snap = s.sample(3.0)
    assert [(c.endpoint, c.variant, c.mode, c.hostname, c.state) for c in snap.containers] == [
        ("ep", "ep-v", "Direct", "a", "FETCHING"), ("other", "other-v", "Serial", "x", "RUNNING")]  # fmt: skip
    assert (snap.endpoint, snap.variant, snap.mode) == ("ep", "ep-v", "Direct"), "the first endpoint's"
    assert snap.containers[1].ready_seconds == 0.5 and snap.containers[1].memory_bytes == 15 * MIB
    states = series(snap)["coserve_container_state"]
    assert states[labels("other", "other-v", "x", 1) | {("state", "RUNNING")}] == 1.0
    disk = {dict(k)["endpoint"]: dict(k)["variant"] for k in series(snap)["coserve_disk_utilization_percent"]}
    assert disk == {"ep": "ep-v", "other": "other-v"}, "the host's figures under each endpoint's labels"

    s.on_event(event(later.key, State.RUNNING, State.STOPPING, 4.0))
    s.on_event(event(later.key, State.STOPPING, State.STOPPED, 4.1))
    members.remove(later)
    snap = s.sample(5.0)
    assert later.key not in s.books and set(s.books) == {first}
    assert [c.endpoint for c in snap.containers] == ["ep"]
    assert not [k for k in series(snap)["coserve_container_memory_bytes"] if ("endpoint", "other") in k]
    assert not [k for k in series(snap)["coserve_disk_utilization_percent"] if ("endpoint", "other") in k]


def test_an_event_without_a_key_is_ignored_and_an_empty_host_still_has_its_host_figures(tmp_path: Path) -> None:
    s = sampler([], tmp_path)
    s.on_event(Event("a", State.STOPPED, State.FETCHING, "fetching", 1.0))
    assert s.books == {}
    snap = s.sample(1.0)
    assert (snap.endpoint, snap.containers) == ("", ())
    assert series(snap)["coserve_stats_timestamp_seconds"] == {frozenset({"endpoint": "", "variant": ""}.items()):
                                                               snap.at}  # fmt: skip


def two_generations(tmp: Path) -> tuple[list[Member], Sampler]:
    d = deployment("ep", ("a", "b"), tmp)
    members = list(deployment_members(d))
    members.append(replace(members[0], key=ContainerKey("ep", 2, "a")))
    s = sampler(members, tmp)
    for m in members:
        s.on_event(event(m.key, State.STOPPED, State.FETCHING))
    for m in members[:2]:
        s.on_event(event(m.key, State.FETCHING, State.STARTING, 1.0))
        s.on_event(event(m.key, State.STARTING, State.RUNNING, 1.2))
    return members, s


def test_two_generations_of_one_hostname_are_two_samples_and_two_series(tmp_path: Path) -> None:
    _, s = two_generations(tmp_path)
    snap = s.sample(2.0)
    a1, _, a2 = snap.containers
    assert (a1.hostname, a1.generation, a1.state, a2.hostname, a2.generation, a2.state) == (
        "a", 1, "RUNNING", "a", 2, "FETCHING")  # fmt: skip
    assert (a1.memory_bytes, a2.memory_bytes) == (12 * MIB, 22 * MIB), "each its own cgroup's"
    memory = series(snap)["coserve_container_memory_bytes"]
    assert memory[labels("ep", "ep-v", "a", 1)] == 12 * MIB and memory[labels("ep", "ep-v", "a", 2)] == 22 * MIB
    assert Snapshot.from_json(snap.to_json()) == snap


def test_emf_counts_a_hostnames_requests_once_while_two_generations_run(tmp_path: Path) -> None:
    _, s = two_generations(tmp_path)
    registry = CollectorRegistry()
    m = RequestMetrics.register(registry, "ep", "ep-v", "Direct")
    m.observe(("a",), Result(None, (Hop("a", 200, 0.002, 10, "application/json"),)), 0.003)
    writer = EmfWriter(MetricsConfig(emf_path="-"), lambda: list(registry.collect()))
    lines = writer.lines(summarize_endpoints(registry.collect()), s.sample(2.0))
    for line in lines:
        assert emf_spec.problems(line) == [], line
    docs = [json.loads(line) for line in lines]
    per_container = [(d["ContainerName"], d["Invocations"]) for d in docs if "ContainerName" in d]
    assert sorted(per_container) == [("a", 0), ("a", 1), ("b", 0)], "on the newest generation's line only"
    assert docs[-1]["EndpointName"] == "ep" and docs[-1]["Invocations"] == 1


def test_status_lists_each_endpoint_with_its_containers_and_generations(tmp_path: Path) -> None:
    """The status document and `coserve status` over a hub's router metrics (one process: no workers)."""
    d, other = deployment("ep", ("a", "b"), tmp_path), deployment("other", ("x",), tmp_path)
    members = [*deployment_members(d), *deployment_members(other)]
    members.append(replace(members[0], key=ContainerKey("ep", 2, "a")))
    run = RunDir(tmp_path / "run")
    hub = MetricsHub(d, run, lambda: members, fake_stats, lambda: StoreStats(0, 0, 0))
    hub.prepare()
    hub.router.start()
    hub.tick(1.0)
    doc = hub.router.status()
    assert [e["endpoint"] for e in doc["endpoints"]] == ["ep", "other"]
    assert [(c["hostname"], c["generation"]) for c in doc["endpoints"][0]["containers"]] == [
        ("a", 1), ("b", 1), ("a", 2)]  # fmt: skip
    assert [c["hostname"] for c in doc["containers"]] == ["a", "b", "a", "x"], "every container, by endpoint"
    assert (doc["endpoint"], doc["variant"], doc["mode"]) == ("ep", "ep-v", "Direct")
    value = hub.router.registry.get_sample_value(
        "coserve_invocations_total", {"endpoint": "other", "variant": "other-v", "container": "x"}
    )
    assert value == 0.0, "another endpoint's request series exist at 0 once the snapshot names its containers"
    console = Console(width=250, record=True)
    console.print(render(doc))
    text = console.export_text()
    assert "ep / ep-v (Direct)" in text and "other / other-v (Direct)" in text
    assert "a (gen 1)" in text and "a (gen 2)" in text and "x (gen" not in text


def test_the_hosts_memory_figures_follow_the_ledger(tmp_path: Path) -> None:
    d = deployment("ep", ("a", "b"), tmp_path)
    book = ledger(d, Capacity(8 * GIB, "host memory", 4.0, "host CPUs"), ["ep.1.a", "ep.1.b"])
    members = list(deployment_members(d))
    s = Sampler(lambda: members, fake_stats, lambda: StoreStats(0, 0, 0), 24 * GIB, tmp_path, lambda: book)
    before = s.sample(1.0).host
    book = book.released({"ep.1.b"})
    after = s.sample(2.0).host
    assert before is not None and after is not None
    assert before.limits_bytes - after.limits_bytes == GIB and after.free_bytes - before.free_bytes == GIB


def test_the_hub_follows_a_real_supervisor_through_an_update(tmp_path: Path) -> None:
    """A real Supervisor (fake OS and work seams: no processes here) feeding the hub's events; the members are
    what a fleet lists: the unit's key, spec, variant and mode."""
    d = deployment("ep", ("a",), tmp_path)
    members = list(deployment_members(d))
    hub = MetricsHub(d, RunDir(tmp_path / "run"), lambda: members, fake_stats, lambda: StoreStats(0, 0, 0))
    hub.prepare()
    os_, work = FakeOs(), FakeWork()
    sup = Supervisor(d.server, os_, work, ProcessGroupOnly(), hub.on_event)
    sup.add(deployment_units(d), 0.0)
    work.finish("fetch:ep/1/a", tmp_path)
    sup.tick(0.1)
    sup.tick(0.2)
    work.finish("probe:ep/1/a", True)
    sup.tick(0.3)
    green = Unit(ContainerKey("ep", 2, "a"), d.containers[0], d.server.container_log("a"))
    sup.add([green], 1.0)
    members.append(Member(green.key, green.spec, d.variant_name, d.mode))
    hub.tick(1.0)
    snap = hub.snapshots.latest()
    assert snap is not None
    assert [(c.generation, c.state) for c in snap.containers] == [(1, "RUNNING"), (2, "FETCHING")]

    old = ContainerKey("ep", 1, "a")
    sup.stop([old], 2.0)
    os_.by_dir["a.0"].returncode = 0  # <RunDir>/<hostname>.<port block>
    for now in (2.1, 2.2, 2.3):
        sup.tick(now)
    assert sup.stopped([old])
    sup.forget([old])
    members.remove(members[0])
    hub.tick(3.0)
    snap = hub.snapshots.latest()
    assert snap is not None and [(c.generation, c.state) for c in snap.containers] == [(2, "FETCHING")]
    assert hub.sampler is not None and old not in hub.sampler.books
    assert list(series(snap)["coserve_container_state"]) and all(
        ("generation", "2") in k for k in series(snap)["coserve_container_state"]
    )
