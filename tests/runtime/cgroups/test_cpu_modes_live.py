"""CpuMode through a real coserve on this host: pinned cores and the start-up refusal when none are spare."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from runtime.cgroups.cpu import parse_cpus
from runtime.cgroups.procfs import cgroup_mounts, own_cgroups, under
from tests.support import echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
CORES = sorted(os.sched_getaffinity(0))
needs_two = pytest.mark.skipif(
    len(CORES) < 2 or "cpuset" not in cgroup_mounts().v1, reason="needs 2+ cores (one stays unpinned), v1 cpuset"
)


def allowed(pid: int) -> list[int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return parse_cpus(next(line.split(":")[1] for line in status if line.startswith("Cpus_allowed_list")))


def server_of(children: list[psutil.Process], hostname: str) -> psutil.Process:
    return next(p for p in children if p.environ().get("COSERVE_CONTAINER_HOSTNAME") == hostname)


@needs_two
def test_a_pinned_container_has_its_own_core_and_the_others_keep_off_it(tmp_path: Path) -> None:
    pinned, pinned_cfg = echo_container("pinned")
    other, other_cfg = echo_container("other")
    doc = {
        "EndpointName": "pin-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [pinned, other],
        "Coserve": {"Containers": {"pinned": {**pinned_cfg, "Cpus": 1, "CpuMode": "pinned"}, "other": other_cfg}},
    }  # fmt: skip
    c = start_coserve(doc, tmp_path)
    cpuset_root = under(cgroup_mounts().v1["cpuset"], own_cgroups()["cpuset"])  # coserve's own cpuset cgroup
    assert list(cpuset_root.glob(f"coserve.{c.proc.pid}.*/pin-ep.1.pinned")), "the pinned container's cpuset cgroup"
    try:
        children = psutil.Process(c.proc.pid).children()
        mine, theirs = allowed(server_of(children, "pinned").pid), allowed(server_of(children, "other").pid)
        assert mine == [CORES[-1]] and theirs == CORES[:-1]
        assert server_of(children, "pinned").environ()["OMP_NUM_THREADS"] == "1"
    finally:
        assert c.stop() == 0
    assert not list(cpuset_root.glob(f"coserve.{c.proc.pid}.*")), "the run's cpuset directory is removed"


@needs_two
def test_pinning_more_cores_than_are_spare_is_refused_at_start(tmp_path: Path) -> None:
    greedy, greedy_cfg = echo_container("greedy")
    doc = {
        "EndpointName": "pin-ep", "Containers": [greedy],
        "Coserve": {"Containers": {"greedy": {**greedy_cfg, "Cpus": len(CORES), "CpuMode": "pinned"}}},
    }  # fmt: skip
    c = start_coserve(doc, tmp_path, wait_ready=False)
    wait_for(lambda: c.proc.poll() is not None, 30, "coserve to refuse the deployment")
    assert c.proc.returncode != 0
    log = c.log.read_text()
    assert f"CpuMode: pinned asks for {len(CORES)} whole cores (greedy ({len(CORES)}))" in log
    assert "keeps at least one for itself" in log and not c.descendants()
