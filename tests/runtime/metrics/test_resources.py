"""CPU, memory, lifecycle and cache figures against the kernel's own accounts (cgroup v1 on these hosts)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from runtime.cgroups.procfs import cgroup_mounts
from runtime.cli.status import fetch, render
from tests.runtime.metrics.scrape import scrape, value
from tests.support import Coserve, client_error, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
V1 = cgroup_mounts().v1
needs_v1 = pytest.mark.skipif("memory" not in V1, reason="reads the cgroup v1 memory controller's files")
LIMIT = 192 * 2**20


def memory_file(pid: int) -> Path:
    """/proc/<pid>/cgroup names the process's memory cgroup; its usage file is the kernel's figure."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "memory" in names.split(","):
            return V1["memory"] / path.lstrip("/") / "memory.usage_in_bytes"
    raise AssertionError(f"pid {pid} has no memory cgroup")


def model_tar(path: Path) -> Path:
    data = b"weights"
    info = tarfile.TarInfo("model.txt")
    info.size = len(data)
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(info, io.BytesIO(data))
    return path


def invoke(c: Coserve, hostname: str, attrs: str | None = None) -> dict[str, Any]:
    kw = {"CustomAttributes": attrs} if attrs else {}
    r = c.client().invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname=hostname, Body=b"{}", **kw)
    return json.loads(r["Body"].read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("metrics-resources")
    idle, idle_cfg = echo_container("idle")
    spin, spin_cfg = echo_container("spinner", ECHO_MODE="spin")
    # A twentieth of a core for two busy children: throttled in nearly every period, even on a loaded host.
    capped, capped_cfg = echo_container("capped", ECHO_MODE="spin")
    idle["ModelDataUrl"] = str(model_tar(work / "model.tar.gz"))
    doc = {
        "EndpointName": "resources-ep", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [idle, spin, capped],
        "Coserve": {"Containers": {"idle": {**idle_cfg, "Memory": f"{LIMIT // 2**20}MiB"},
                                   "spinner": {**spin_cfg, "Cpus": 0.5}, "capped": {**capped_cfg, "Cpus": 0.05}},
                    "Server": {"BackoffBase": "0.1s", "LogMaxSize": "4KiB", "LogBackups": 2}},
    }  # fmt: skip
    c = start_coserve(doc, work)
    yield c
    assert c.stop() == 0


def test_a_cpu_burning_container_shows_more_cpu_than_an_idle_one(busy: Coserve) -> None:
    def cpu(host: str) -> float:
        return value(scrape(busy.url), "coserve_container_cpu_utilization_percent", container=host) or 0.0

    wait_for(lambda: cpu("spinner") > 30 and cpu("spinner") > cpu("idle") + 25, 20, "the spinner's CPUUtilization")
    assert cpu("spinner") < 100 * 0.5 * 1.5, "within its 0.5-core quota, give or take the sampling"


@needs_v1
def test_memory_agrees_with_the_cgroup_files(busy: Coserve) -> None:
    kernel = memory_file(invoke(busy, "idle")["pid"])

    def close() -> bool:
        m = scrape(busy.url)
        ours = value(m, "coserve_container_memory_bytes", container="idle") or 0
        theirs = int(kernel.read_text())
        return abs(ours - theirs) <= max(2 * 2**20, theirs // 10)  # sampled up to a second apart

    wait_for(close, 15, f"coserve's memory figure to match {kernel}")
    m = scrape(busy.url)
    assert value(m, "coserve_container_memory_limit_bytes", container="idle") == LIMIT
    used = value(m, "coserve_container_memory_bytes", container="idle") or 0
    percent = value(m, "coserve_container_memory_utilization_percent", container="idle") or 0
    assert percent == pytest.approx(100 * used / LIMIT, abs=0.01)


def test_artifact_cache_figures(busy: Coserve) -> None:
    m = scrape(busy.url)
    assert value(m, "coserve_artifact_cache_misses_total") == 1
    assert (value(m, "coserve_artifact_fetched_bytes_total") or 0) > 0


def test_lifecycle_lines_land_in_the_container_log_which_rotates(busy: Coserve) -> None:
    for _ in range(150):  # each request logs a line of about 50 bytes: more than 4 KiB in all
        invoke(busy, "idle")
    logs = busy.workdir / "logs"
    wait_for(lambda: (logs / "idle.log.1").exists(), 10, "the log to rotate")
    text = "".join(p.read_text() for p in sorted(logs.glob("idle.log*")))
    assert "coserve: STARTING -> RUNNING: success" in text or "coserve: FETCHING -> STARTING" in text
    assert not (logs / "idle.log.3").exists(), "at most LogBackups files kept"
    assert all(p.stat().st_size <= 4096 for p in logs.glob("idle.log*"))


def test_an_oom_kill_and_the_restart_are_counted(busy: Coserve) -> None:
    client_error(lambda: invoke(busy, "idle", f"hog={2 * LIMIT // 2**20}"))

    def counted() -> bool:
        m = scrape(busy.url)
        return (
            value(m, "coserve_container_oom_kills_total", container="idle") == 1
            and value(m, "coserve_container_restarts_total", container="idle") == 1
            and value(m, "coserve_container_state", container="idle", state="RUNNING") == 1
        )

    wait_for(counted, 30, "the OOM kill, the restart and RUNNING again")
    log = (busy.workdir / "logs" / "idle.log").read_text()
    assert "OOM killer" in log or "OOM killer" in (busy.workdir / "logs" / "idle.log.1").read_text()


def test_a_quota_that_bites_shows_as_throttling_in_metrics_and_status(busy: Coserve) -> None:
    def throttled(host: str, what: str = "periods") -> float:
        return value(scrape(busy.url), f"coserve_container_cpu_throttled_{what}_total", container=host) or 0.0

    wait_for(lambda: throttled("capped") > 0, 20, "the 0.05-core quota to throttle two spinners")
    assert throttled("capped", "seconds") > 0
    assert throttled("idle") == 0  # no quota, nothing throttled
    console = Console(record=True, width=250)
    console.print(render(fetch(busy.url)))
    text = console.export_text()
    cells = [line.replace("│", " ").split() for line in text.splitlines()]
    rows = {row[0]: " ".join(row) for row in cells if row}
    assert "THROTTLED" in text
    assert (
        rows["capped"].rstrip().endswith("s)")
        and not rows["capped"].rstrip().endswith(" 0 (0.0s)")
        and rows["idle"].rstrip().endswith("0 (0.0s)")
    )
