"""Unit tests: the copy a request goes to, the store's component rows and its migration from schema 1, the
limits a Specification becomes, and the admission judgement against a published ledger."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from runtime.components import capacity
from runtime.components.spec import MIB, SpecError, copy_spec, timeouts
from runtime.control import icstore
from runtime.control.context import Context
from runtime.control.errors import ResourceLimitExceeded, ValidationException
from runtime.control.ops import Operations
from runtime.control.schema import VERSION
from runtime.control.store import Store
from runtime.router.components import least_outstanding
from runtime.routing import ContainerRoute


def route(port: int, state: str = "RUNNING") -> ContainerRoute:
    return ContainerRoute(f"c-{port}", port, state, "/dev/null")


def test_least_outstanding_takes_the_copy_with_fewest_requests() -> None:
    routes = (route(1), route(2), route(3))
    assert least_outstanding(routes, {1: 4, 2: 1, 3: 2}) == routes[1]


def test_ties_are_spread_not_always_the_first() -> None:
    routes = (route(1), route(2), route(3))
    chosen = Counter(least_outstanding(routes, {}) for _ in range(300))
    assert set(chosen) == set(routes)  # each of three equal copies gets some of 300 picks


def test_only_running_copies_are_chosen() -> None:
    assert least_outstanding((route(1, "STARTING"), route(2)), {2: 9}) == route(2)
    assert least_outstanding((route(1, "STARTING"),), {}) is None


def test_a_specification_becomes_the_copys_limits() -> None:
    spec = {"Container": {"Image": "process"},
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128, "MaxMemoryRequiredInMb": 512,
                                            "NumberOfCpuCoresRequired": 0.5}}  # fmt: skip
    c = copy_spec(spec, "m-1")
    assert (c.hostname, c.limits.memory_bytes, c.limits.memory_request_bytes) == ("m-1", 512 * MIB, 128 * MIB)
    assert (c.limits.cpu_weight, c.limits.cpus, c.limits.cpu_request) == (50, None, 0.5)
    quota = copy_spec(spec, "m-1", {"coserve:CpuMode": "quota"})
    assert quota.limits.cpus == 0.5 and quota.limits.cpu_mode == "quota"
    no_max = copy_spec({**spec, "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 200}}, "m-1")
    assert no_max.limits.memory_bytes == 200 * MIB


def test_bad_specifications_are_named() -> None:
    with pytest.raises(SpecError, match="MaxMemoryRequiredInMb: 100 is below"):
        copy_spec({"Container": {"Image": "process"}, "ComputeResourceRequirements":
                   {"MinMemoryRequiredInMb": 200, "MaxMemoryRequiredInMb": 100}}, "x")  # fmt: skip
    with pytest.raises(SpecError, match="exactly one"):
        copy_spec({"ModelName": "m", "Model": {"Containers": [{"Image": "process"}, {"Image": "process"}]},
                   "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128}}, "x")  # fmt: skip
    with pytest.raises(SpecError, match="IdleTimeout"):
        timeouts({"coserve:IdleTimeout": "soon"}, 1.0)
    assert timeouts({"coserve:IdleTimeout": "5m"}, 240.0) == (300.0, 240.0)


def _ops(state_dir: Path) -> Operations:
    return Operations(Context(Store(state_dir).open(), capacity=lambda: capacity.read(state_dir)))


def _component(ops: Operations, name: str, copies: int, low: int = 128) -> dict[str, Any]:
    return ops.call("CreateInferenceComponent", {
        "InferenceComponentName": name, "EndpointName": "host", "VariantName": "AllTraffic",
        "Specification": {"Container": {"Image": "process"},
                          "ComputeResourceRequirements": {"MinMemoryRequiredInMb": low}},
        "RuntimeConfig": {"CopyCount": copies},
    })  # fmt: skip


def _host(ops: Operations) -> None:
    ops.call("CreateEndpointConfig", {"EndpointConfigName": "cfg", "ProductionVariants": [
        {"VariantName": "AllTraffic", "InstanceType": "ml.c5.large", "InitialInstanceCount": 1}]})  # fmt: skip
    ops.call("CreateEndpoint", {"EndpointName": "host", "EndpointConfigName": "cfg"})


def test_components_are_stored_described_updated_and_deleted(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    _host(ops)
    _component(ops, "a", 2)
    d = ops.call("DescribeInferenceComponent", {"InferenceComponentName": "A"})
    assert d["InferenceComponentStatus"] == "Creating"
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 0}
    with pytest.raises(ValidationException, match="while it is Creating"):
        ops.call("UpdateInferenceComponentRuntimeConfig",
                 {"InferenceComponentName": "a", "DesiredRuntimeConfig": {"CopyCount": 1}})  # fmt: skip
    with pytest.raises(ValidationException, match="already existing"):
        _component(ops, "a", 1)
    with pytest.raises(ValidationException, match="Could not find inference component"):
        ops.call("DescribeInferenceComponent", {"InferenceComponentName": "b"})
    ops.call("DeleteInferenceComponent", {"InferenceComponentName": "a"})
    listed = ops.call("ListInferenceComponents", {})["InferenceComponents"]
    assert [(x["InferenceComponentName"], x["InferenceComponentStatus"]) for x in listed] == [("a", "Deleting")]


def test_a_model_endpoint_hosts_no_components(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    ops.call("CreateModel", {"ModelName": "m", "PrimaryContainer": {"Image": "process", "ModelDataUrl": "/tmp"}})
    ops.call("CreateEndpointConfig", {"EndpointConfigName": "cfg", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "m"}]})  # fmt: skip
    ops.call("CreateEndpoint", {"EndpointName": "host", "EndpointConfigName": "cfg"})
    with pytest.raises(ValidationException, match="hosts no inference components"):
        _component(ops, "a", 1)


def test_admission_counts_what_others_were_promised(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    _host(ops)
    capacity.write(tmp_path, capacity.Published(1000 * MIB, 2000 * MIB, "host memory"))
    _component(ops, "a", 2, low=400)  # 800 of 1000 promised, not held yet
    with pytest.raises(ResourceLimitExceeded, match=r"needs 1 copy x MinMemoryRequiredInMb 300"):
        _component(ops, "b", 1, low=300)
    capacity.write(tmp_path, capacity.Published(1000 * MIB, 2000 * MIB, "host memory", idle=["a"]))
    _component(ops, "b", 1, low=300)  # a sleeps: it is promised nothing


def test_schema_1_is_migrated_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "coserve.db")
    db.executescript("CREATE TABLE resources (kind TEXT); CREATE TABLE endpoints (name TEXT); PRAGMA user_version = 1;")
    db.close()
    store = Store(tmp_path).open()
    with store.transaction(write=False) as tx:
        assert icstore.all_(tx.db) == []
        assert tx.db.execute("PRAGMA user_version").fetchone()[0] == VERSION


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"StartupParameters": {"ModelDataDownloadTimeoutInSeconds": 60}}, "Specification.StartupParameters"),
        ({"BaseInferenceComponentName": "base"}, "Specification.BaseInferenceComponentName"),
        ({"Container": {"Image": "process", "ContainerMetricsConfig": {"EnableMetrics": True}}},
         "Specification.Container.ContainerMetricsConfig"),
    ],
)  # fmt: skip
def test_what_cannot_be_honoured_is_named(tmp_path: Path, extra: dict[str, Any], field: str) -> None:
    ops = _ops(tmp_path)
    _host(ops)
    spec = {"Container": {"Image": "process"}, "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128}, **extra}
    with pytest.raises(ValidationException, match=f"{field} is not supported by coserve"):
        ops.call("CreateInferenceComponent", {"InferenceComponentName": "a", "EndpointName": "host",
                                              "Specification": spec, "RuntimeConfig": {"CopyCount": 1}})  # fmt: skip


def test_admission_counts_cores_too(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    _host(ops)
    capacity.write(tmp_path, capacity.Published(10_000 * MIB, 20_000 * MIB, "host memory", free_cpus=1.5, cpus=2.0))
    spec = {"Container": {"Image": "process"},
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128, "NumberOfCpuCoresRequired": 1.0}}  # fmt: skip
    ask = {"EndpointName": "host", "Specification": spec, "RuntimeConfig": {"CopyCount": 1}}
    ops.call("CreateInferenceComponent", {"InferenceComponentName": "a", **ask})
    with pytest.raises(ResourceLimitExceeded, match=r"NumberOfCpuCoresRequired 1 = 1 cores, but 0.5 of 2 are free"):
        ops.call("CreateInferenceComponent", {"InferenceComponentName": "b", **ask})
