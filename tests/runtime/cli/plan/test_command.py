"""`coserve plan` as a user runs it: against a running coserve's /metrics, and on an endpoints file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, echo_container, start_coserve

pytestmark = pytest.mark.integration


def plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime", "plan", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_plan_packs_a_running_hosts_containers_from_its_metrics(tmp_path: Path) -> None:
    a, a_cfg = echo_container("alpha")
    b, b_cfg = echo_container("beta")
    doc = {"EndpointName": "plan-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [a, b],
           "Coserve": {"Containers": {"alpha": a_cfg, "beta": b_cfg}}}  # fmt: skip
    c = start_coserve(doc, tmp_path)
    try:
        for _ in range(20):
            c.client().invoke_endpoint(EndpointName="plan-ep", TargetContainerHostname="alpha", Body=b"{}")
        out = plan("--url", c.url, "--json", "--samples", "2", "--interval", "0.5")
    finally:
        assert c.stop() == 0
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    placed = sorted(m for p in doc["placements"] for m in p["models"])
    assert placed == ["alpha", "beta"] and doc["excluded"] == []
    assert doc["placements"][0]["instance"].startswith("ml.")  # two echo servers: one instance holds both
    assert len(doc["placements"]) == 1 and doc["after_sagemaker_usd_month"] < doc["before_sagemaker_usd_month"]


def test_plan_reads_an_endpoints_file_and_refuses_a_bad_one_naming_each_problem(tmp_path: Path) -> None:
    good = tmp_path / "endpoints.yaml"
    good.write_text(
        "Endpoints:\n"
        "  - {EndpointName: churn, InstanceType: ml.c5.large, PeakCpu: 0.3, PeakMemory: 600MiB}\n"
        "  - {EndpointName: fraud, InstanceType: ml.m5.large, CpuUtilization: 20, MemoryUtilization: 25}\n"
        "  - {EndpointName: vision, InstanceType: ml.g4dn.xlarge, PeakCpu: 1, PeakMemory: 6GiB}\n"
    )
    out = plan(str(good))
    assert out.returncode == 0, out.stderr
    assert "churn" in out.stdout and "needs an accelerator (ml.g4dn.xlarge)" in out.stdout
    assert "SageMaker: $" in out.stdout and "saving" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("Endpoints:\n  - {EndpointName: x, PeakCpu: fast}\n")
    out = plan(str(bad))
    assert out.returncode == 2 and out.stdout == ""
    assert "Endpoints[0].PeakCpu: must be a number >= 0 (got 'fast')" in out.stderr
    assert "Endpoints[0]: needs PeakMemory" in out.stderr


def test_plan_reads_the_consolidation_benchmarks_result() -> None:
    out = plan("--benchmark", "benchmarks/results/consolidation-15.json", "--json")
    assert out.returncode == 0, out.stderr
    assert len([m for p in json.loads(out.stdout)["placements"] for m in p["models"]]) == 15
    bad = plan("--benchmark", "README.md")
    assert bad.returncode == 2 and "not a consolidation benchmark result" in bad.stderr


def test_plan_emits_a_coserve_section_per_instance_that_coserve_accepts(tmp_path: Path) -> None:
    from runtime.admission import Capacity, admit
    from tests.runtime.cli.plan.test_emit import deployment

    out = plan("--benchmark", "benchmarks/results/consolidation-15.json", "--json", "--emit", str(tmp_path / "d"))
    assert out.returncode == 0, out.stderr
    (placed,) = json.loads(out.stdout)["placements"]
    assert sorted(tmp_path.joinpath("d").iterdir()) == [tmp_path / "d" / "instance-1.yaml"]
    text = (tmp_path / "d" / "instance-1.yaml").read_text()
    assert text.startswith(f"# coserve plan: instance 1 of 1, {placed['instance']} ")
    d = deployment(yaml.safe_load(text))
    rows = {c["hostname"]: c for c in placed["containers"]}
    assert {c.hostname: (c.limits.memory_request_bytes, c.limits.memory_bytes, c.limits.cpu_request) for c in
            d.containers} == {h: (r["memory_request_bytes"], r["memory_limit_bytes"], r["cpu_request"])
                              for h, r in rows.items()}  # fmt: skip
    book = admit(d, Capacity(placed["memory_capacity_bytes"], "instance memory", placed["vcpu"], "vCPUs"))
    assert book.requested_bytes == sum(r["memory_request_bytes"] for r in rows.values())
    assert book.overcommit_bytes > 0  # the limits (2x the requests) overcommit the instance; admission counts requests
    blocked = tmp_path / "file"
    blocked.write_text("")
    bad = plan("--benchmark", "benchmarks/results/consolidation-15.json", "--emit", str(blocked))
    assert bad.returncode == 2 and bad.stdout == "" and f"--emit {blocked}:" in bad.stderr
