"""Issue 16's acceptance through boto3 against a real coserve: an endpoint that hosts inference components,
two copies sharing the load (distinct processes), the copy's cgroup memory limit, CopyCount 0 and back, a
component that cannot fit, an idle component scaled to zero and woken by a request, and 50 components on one
host of which only the recently used hold memory."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runtime.cgroups.procfs import cgroup_mounts
from runtime.cli.status import fetch
from runtime.confinement import host_capacity
from tests.runtime.control.test_live_boto3 import WAIT, clients, model_url, start_host
from tests.support import free_block, free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    yield tmp_path, free_port(), free_block(10, 60)


def component_host(sm: Any, endpoint: str = "hosting") -> None:
    """An endpoint whose variant names no model: it hosts components and runs nothing of its own."""
    sm.create_endpoint_config(EndpointConfigName=f"{endpoint}-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "InstanceType": "ml.c5.large", "InitialInstanceCount": 1}])  # fmt: skip
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=WAIT)


def create(sm: Any, name: str, url: str, copies: int, low: int = 128, high: int | None = None,
           tags: dict[str, str] | None = None, endpoint: str = "hosting") -> None:  # fmt: skip
    """A component running the model `<name>-model` (created here: ArtifactUrl takes only https and s3)."""
    need: dict[str, Any] = {"MinMemoryRequiredInMb": low, **({"MaxMemoryRequiredInMb": high} if high else {})}
    sm.create_model(ModelName=f"{name}-model", PrimaryContainer={"Image": "process", "ModelDataUrl": url})
    sm.create_inference_component(
        InferenceComponentName=name, EndpointName=endpoint, VariantName="AllTraffic",
        Specification={"ModelName": f"{name}-model", "ComputeResourceRequirements": need},
        RuntimeConfig={"CopyCount": copies}, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )  # fmt: skip


def copies(sm: Any, name: str) -> tuple[str, int, int]:
    d = sm.describe_inference_component(InferenceComponentName=name)
    return d["InferenceComponentStatus"], d["RuntimeConfig"]["DesiredCopyCount"], d["RuntimeConfig"]["CurrentCopyCount"]


def wait_copies(sm: Any, name: str, current: int, timeout: float = 60) -> None:
    wait_for(lambda: copies(sm, name)[0] == "InService" and copies(sm, name)[2] == current, timeout,
             f"{name} InService with {current} copies")  # fmt: skip


def invoke(rt: Any, name: str, endpoint: str = "hosting") -> dict[str, Any]:
    out = rt.invoke_endpoint(EndpointName=endpoint, InferenceComponentName=name, Body=b"x", ContentType="text/plain")
    return dict(json.loads(out["Body"].read()))


def memory_limit(pid: int) -> int:
    """memory.limit_in_bytes of the v1 memory cgroup `pid` runs in."""
    line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":memory:" in x)
    mount = cgroup_mounts().v1["memory"]
    return int((mount / line.split(":", 2)[2].lstrip("/") / "memory.limit_in_bytes").read_text())


def metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        return str(r.read().decode())


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_copies_limits_zero_admission_and_wake(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    c = start_host(tmp / "host", tmp / "state", port, base)
    sm, rt = clients(c)
    try:
        component_host(sm)
        create(sm, "pair", model_url(tmp, "pair", "pair"), copies=2, low=128, high=192)
        assert copies(sm, "pair")[0] == "Creating"
        wait_copies(sm, "pair", 2)
        assert copies(sm, "pair") == ("InService", 2, 2)
        pids = {invoke(rt, "pair")["pid"] for _ in range(40)}
        assert len(pids) == 2, pids  # both copies took requests: distinct processes
        assert {memory_limit(pid) for pid in pids} == {192 * 2**20}
        shown = [x for x in fetch(c.url)["containers"] if x["hostname"].startswith("pair-")]  # `coserve status`'s
        assert len(shown) == 2 and {x["state"] for x in shown} == {"RUNNING"}, shown
        assert {x["memory_limit_bytes"] for x in shown} == {192 * 2**20}

        with pytest.raises(ClientError) as unknown:
            invoke(rt, "nobody")
        assert unknown.value.response["Error"]["Code"] == "ValidationError"
        with pytest.raises(ClientError) as bare:
            rt.invoke_endpoint(EndpointName="hosting", Body=b"x")
        assert "Inference Component Name header is required" in bare.value.response["Error"]["Message"]

        sm.update_inference_component_runtime_config(
            InferenceComponentName="pair", DesiredRuntimeConfig={"CopyCount": 0}
        )
        wait_copies(sm, "pair", 0)
        wait_for(lambda: not any(alive(p) for p in pids), 30, "both copies' processes gone")
        with pytest.raises(ClientError) as empty:
            invoke(rt, "pair")
        assert empty.value.response["Error"]["Code"] == "ValidationError"
        assert empty.value.response["Error"]["Message"].startswith("Inference Component has no capacity")
        sm.update_inference_component_runtime_config(
            InferenceComponentName="pair", DesiredRuntimeConfig={"CopyCount": 1}
        )
        wait_copies(sm, "pair", 1)
        assert invoke(rt, "pair")["model"] == "pair"

        with pytest.raises(ClientError) as big:
            create(sm, "huge", model_url(tmp, "huge", "huge"), copies=2, low=64 * 2**20)
        assert big.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        assert "needs 2 copies" in big.value.response["Error"]["Message"]
        with pytest.raises(ClientError):
            sm.describe_inference_component(InferenceComponentName="huge")

        create(sm, "sleepy", model_url(tmp, "sleepy", "sleepy"), copies=1, tags={"coserve:IdleTimeout": "2s"})
        wait_copies(sm, "sleepy", 1)
        first = invoke(rt, "sleepy")["pid"]
        wait_for(lambda: copies(sm, "sleepy") == ("InService", 1, 0), 30, "sleepy scaled to zero when idle")
        wait_for(lambda: not alive(first), 30, "the idle copy's process gone")
        woken = invoke(rt, "sleepy")  # held until a copy runs again
        assert woken["model"] == "sleepy" and woken["pid"] != first
        assert copies(sm, "sleepy") == ("InService", 1, 1)
        wait_for(lambda: "coserve_component_wakes_total 1.0" in metrics(c.url), 10, "the wake counted on /metrics")
        page = metrics(c.url)
        assert 'coserve_component_waited_requests_total{outcome="woken"} 1.0' in page
        assert "coserve_component_time_to_wake_seconds_count 1.0" in page

        listed = sm.list_inference_components(EndpointNameEquals="hosting")["InferenceComponents"]
        assert sorted(x["InferenceComponentName"] for x in listed) == ["pair", "sleepy"]
        with pytest.raises(ClientError) as busy:
            sm.delete_endpoint(EndpointName="hosting")
        assert "hosts inference components" in busy.value.response["Error"]["Message"]
        for name in ("pair", "sleepy"):
            sm.delete_inference_component(InferenceComponentName=name)
        wait_for(lambda: not sm.list_inference_components()["InferenceComponents"], 60, "components deleted")
        sm.delete_endpoint(EndpointName="hosting")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="hosting", WaiterConfig=WAIT)
    finally:
        sm.close()
        rt.close()
        c.stop()


def test_fifty_components_only_the_recently_used_hold_memory(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    c = start_host(tmp / "host", tmp / "state", port, base)
    sm, rt = clients(c)
    names = [f"model{i:02d}" for i in range(50)]
    try:
        component_host(sm)
        url = model_url(tmp, "shared", "shared")
        for name in names:
            create(sm, name, url, copies=1, low=128, tags={"coserve:IdleTimeout": "3s"})
        for name in names:
            wait_for(lambda n=name: copies(sm, n) == ("InService", 1, 0), 180, f"{name} up, then idle to zero")
        wait_for(lambda: not c.descendants(), 60, "no copy's process left once all are idle")
        used = names[:3]
        pids = {invoke(rt, name)["pid"] for name in used}
        assert len(pids) == 3
        held = [n for n in names if copies(sm, n)[2] == 1]
        assert held == used  # the 47 others hold no process, hence no memory
        assert len(c.descendants()) >= 3
        for name in names:
            sm.delete_inference_component(InferenceComponentName=name)
        wait_for(lambda: not sm.list_inference_components()["InferenceComponents"], 120, "components deleted")
    finally:
        sm.close()
        rt.close()
        c.stop()


def test_a_wake_that_does_not_fit_scales_the_least_recently_used_to_zero(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    room = host_capacity().memory_bytes - 300 * 2**20  # 300 MiB free for requests: two 128 MiB copies, not three
    c = start_host(tmp / "host", tmp / "state", port, base, MemoryReserve=str(room))
    sm, rt = clients(c)
    try:
        component_host(sm)
        sleepy = {"coserve:IdleTimeout": "2s"}
        for name in ("a", "b"):
            create(sm, name, model_url(tmp, name, name), copies=1, tags=sleepy)
        for name in ("a", "b"):
            wait_for(lambda n=name: copies(sm, n) == ("InService", 1, 0), 60, f"{name} idle to zero")
        wait_for(lambda: not c.descendants(), 30, "the idle copies' processes gone, their memory given back")
        create(sm, "c", model_url(tmp, "c", "c"), copies=1, tags={"coserve:IdleTimeout": "1h"})
        wait_copies(sm, "c", 1)
        assert invoke(rt, "a")["model"] == "a"  # 128 of the 172 MiB left
        assert invoke(rt, "b")["model"] == "b"  # does not fit: c, used least recently, goes to zero first
        assert copies(sm, "c") == ("InService", 1, 0)
        assert invoke(rt, "c")["model"] == "c"  # and wakes in turn (a or b makes room)
    finally:
        sm.close()
        rt.close()
        c.stop()


def test_stream_restart_and_a_new_specification(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    c = start_host(tmp / "host", tmp / "state", port, base)
    sm, rt = clients(c)
    try:
        component_host(sm)
        create(sm, "m", model_url(tmp, "v1", "v1"), copies=1)
        wait_copies(sm, "m", 1)
        out = rt.invoke_endpoint_with_response_stream(EndpointName="hosting", InferenceComponentName="m", Body=b"x")
        assert json.loads(b"".join(e["PayloadPart"]["Bytes"] for e in out["Body"]))["model"] == "v1"

        sm.create_model(
            ModelName="v2-model", PrimaryContainer={"Image": "process", "ModelDataUrl": model_url(tmp, "v2", "v2")}
        )
        sm.update_inference_component(InferenceComponentName="m", Specification={
            "ModelName": "v2-model", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128}})  # fmt: skip
        wait_for(lambda: invoke(rt, "m")["model"] == "v2", 60, "the new Specification's copy answering")
        wait_copies(sm, "m", 1)
        assert sm.describe_inference_component(InferenceComponentName="m")["Specification"]["ModelName"] == "v2-model"

        sm.close()
        rt.close()
        assert c.stop() == 0
        c = start_host(tmp / "host", tmp / "state", port, base)
        sm, rt = clients(c)
        wait_copies(sm, "m", 1)
        assert invoke(rt, "m")["model"] == "v2"
    finally:
        sm.close()
        rt.close()
        c.stop()


def test_wake_through_gunicorn_workers(host: tuple[Path, int, int]) -> None:
    """With two router processes, requests and wakes reach the supervisor through the state directory's files."""
    tmp, port, base = host
    c = start_host(tmp / "host", tmp / "state", port, base, Workers=2)
    sm, rt = clients(c)
    try:
        component_host(sm)
        create(sm, "w", model_url(tmp, "w", "w"), copies=1, tags={"coserve:IdleTimeout": "2s"})
        wait_copies(sm, "w", 1)
        first = invoke(rt, "w")["pid"]
        wait_for(lambda: copies(sm, "w") == ("InService", 1, 0), 30, "w scaled to zero when idle")
        woken = [invoke(rt, "w")["pid"] for _ in range(4)]
        assert first not in woken and len(set(woken)) == 1
        with pytest.raises(ClientError) as bad:
            create(sm, "x", model_url(tmp, "x", "x"), copies=1, tags={"coserve:Defaults.Memory": "1GiB"})
        assert "an inference component takes coserve:IdleTimeout" in bad.value.response["Error"]["Message"]
    finally:
        sm.close()
        rt.close()
        c.stop()
