"""Isolation with real cgroups (v1 on these machines) and private mount namespaces, through coserve."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from botocore.exceptions import ClientError

from runtime.cgroups.procfs import cgroup_mounts
from tests.support import Coserve, client_error, echo_container, start_coserve, wait_for, write_tarball

pytestmark = pytest.mark.integration
V1 = cgroup_mounts().v1
needs_v1 = pytest.mark.skipif(
    not {"memory", "cpuacct"} <= set(V1), reason="these checks read cgroup v1 files; this host has no v1 hierarchies"
)


def cgroup_of(pid: int, controller: str) -> Path:
    """The kernel's own answer to where a process is: /proc/<pid>/cgroup."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return V1[controller] / path.lstrip("/")
    raise AssertionError(f"pid {pid} has no {controller} cgroup")


def invoke(c: Coserve, hostname: str, attrs: str | None = None) -> dict[str, Any]:
    kw = {"CustomAttributes": attrs} if attrs else {}
    r = c.client().invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname=hostname, Body=b"{}", **kw)
    return json.loads(r["Body"].read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("isolated")
    hog, hog_cfg = echo_container("hog")
    steady, steady_cfg = echo_container("steady")
    spin, spin_cfg = echo_container("spinner", ECHO_MODE="spin")
    hog["ModelDataUrl"] = str(write_tarball(work / "hog.tar.gz", {"model.txt": "the hog's model"}))
    steady["ModelDataUrl"] = f"file://{write_tarball(work / 'steady.tar.gz', {'model.txt': 'the steady model'})}"
    doc = {
        "EndpointName": "iso-ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [hog, steady, spin],
        "Coserve": {
            "Containers": {
                "hog": {**hog_cfg, "Memory": "96MiB"},
                "steady": steady_cfg,
                "spinner": {**spin_cfg, "Cpus": 0.5},
            },
            "Server": {"BackoffBase": "0.2s"},
        },
    }
    c = start_coserve(doc, work)
    yield c
    c.stop()


@needs_v1
def test_oom_kill_touches_only_its_container(isolated: Coserve) -> None:
    failures, served = [], 0
    stop = threading.Event()

    def load() -> None:
        nonlocal served
        while not stop.is_set():
            try:
                invoke(isolated, "steady")
                served += 1
            except ClientError as exc:
                failures.append(exc.response["Error"])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        info = client_error(lambda: invoke(isolated, "hog", "hog=400"))
        assert info["Error"]["Code"] == "ModelError"
        wait_for(lambda: isolated.state("hog") != "RUNNING", 10, "the hog's exit to be seen")
        isolated.wait_state("hog", "RUNNING")
    finally:
        stop.set()
        worker.join()
    assert failures == [], "the other container answered every request during the OOM kill"
    assert served > 0
    assert "exited: (killed by the OOM killer at 96.0MiB; not expected)" in isolated.log.read_text()
    assert invoke(isolated, "hog")["container"] == "hog"


@needs_v1
def test_cpu_quota_holds_a_spinner_at_half_a_core(isolated: Coserve) -> None:
    pid = invoke(isolated, "spinner")["pid"]
    usage = cgroup_of(pid, "cpuacct") / "cpuacct.usage"
    t0, u0 = time.monotonic(), int(usage.read_text())
    latencies = []
    while time.monotonic() - t0 < 3.0:  # a measuring window, not a synchronisation
        start = time.perf_counter()
        invoke(isolated, "steady")
        latencies.append(time.perf_counter() - start)
    cores = (int(usage.read_text()) - u0) / 1e9 / (time.monotonic() - t0)
    assert cores <= 0.6, f"spinner used {cores:.2f} cores under a 0.5 core quota"
    assert cores >= 0.3, f"spinner used only {cores:.2f} cores: is it spinning?"
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.1, "the other container stays responsive"


@needs_v1
def test_every_child_a_container_forks_is_in_its_cgroup(isolated: Coserve) -> None:
    pid = invoke(isolated, "spinner")["pid"]
    tree = [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    assert len(tree) == 3, "the server and its two spinning children"
    for controller in ("memory", "cpu", "cpuacct", "pids"):
        group = cgroup_of(pid, controller)
        assert group.name == "iso-ep.1.spinner", "the cgroup of its key: <endpoint>.<generation>.<hostname>"
        assert {cgroup_of(p, controller) for p in tree} == {group}
        members = {int(x) for x in (group / "cgroup.procs").read_text().split()}
        assert set(tree) <= members


def test_each_container_sees_its_own_model_at_opt_ml_model(isolated: Coserve) -> None:
    hog, steady = invoke(isolated, "hog"), invoke(isolated, "steady")
    assert (hog["opt_ml_model"], steady["opt_ml_model"]) == ("the hog's model", "the steady model")
    assert (hog["model"], steady["model"]) == ("the hog's model", "the steady model")
    spinner = invoke(isolated, "spinner")
    assert spinner["opt_ml_model"] is None, "a container without an artifact sees an empty /opt/ml/model"
    host_view = Path("/opt/ml/model")
    assert not host_view.exists() or list(host_view.iterdir()) == [], "nothing mounted or written on the host"


@needs_v1
def test_shutdown_leaves_no_cgroup_and_no_process(tmp_path: Path) -> None:
    a, a_cfg = echo_container("forker", ECHO_MODE="fork")
    doc = {"EndpointName": "gone-ep", "Containers": [a], "Coserve": {"Containers": {"container-1": a_cfg}}}
    del a["ContainerHostname"]
    c = start_coserve(doc, tmp_path)
    tree = c.descendants()
    server = next(p for p in tree if "echo.py" in " ".join(p.cmdline()))
    groups = [cgroup_of(server.pid, ctl) for ctl in ("memory", "cpu", "cpuacct", "pids")]
    run_dirs = {g.parent for g in groups}
    assert all(g.is_dir() for g in groups)
    assert c.stop() == 0
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == []
    assert [d for d in run_dirs if d.exists()] == [], "the run's cgroups are removed in every hierarchy"
