"""`coserve plan --emit`: requests and limits per model, and fragments that coserve's own parser and
admission accept on the instance the plan chose."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.admission import Capacity, admit
from runtime.cli.plan import Catalog, Instance, Plan, Policy, Workload, load_catalog, make_plan
from runtime.cli.plan.bench import workloads_from_benchmark
from runtime.cli.plan.emit import EmitError, write
from runtime.cli.plan.scrape import workloads_from_texts
from runtime.cli.plan.sizing import hostnames, size_container
from runtime.config import Deployment
from runtime.config.parse import parse_deployment
from runtime.config.validate import NAME as HOSTNAME

MIB, GIB = 2**20, 2**30
SMALL = Instance("ml.s", 2, 4 * GIB, 0.10, "s", 0.08)
LARGE = Instance("ml.l", 8, 16 * GIB, 0.40, "l", 0.32)
CATALOG = Catalog((SMALL, LARGE), 730.0, "test prices")
BENCHMARK = Path("benchmarks/results/consolidation-15.json")


def deployment(fragment: dict[str, Any]) -> Deployment:
    """The fragment merged into the least deployment file around it: a process container per hostname."""
    names = list(fragment["Coserve"]["Containers"])
    per = {h: {**limits, "Command": ["python", "serve.py"]} for h, limits in fragment["Coserve"]["Containers"].items()}
    doc = {"EndpointName": "planned", "InferenceExecutionConfig": {"Mode": "Direct"},
           "Containers": [{"ContainerHostname": h, "Image": "process"} for h in names],
           "Coserve": {**fragment["Coserve"], "Containers": per, "Server": {**fragment["Coserve"]["Server"],
                       "MaxContainers": max(15, len(names))}}}  # fmt: skip
    return parse_deployment(doc)


def check_admitted(plan: Plan, paths: list[Path]) -> None:
    """Every file parses, carries the plan's figures, and its requests pass admission on its instance."""
    assert [p.name for p in paths] == [f"instance-{n}.yaml" for n in range(1, len(plan.placements) + 1)]
    for path, placed in zip(paths, plan.placements, strict=True):
        d = deployment(yaml.safe_load(path.read_text()))
        assert [c.hostname for c in d.containers] == [s.hostname for s in placed.containers]
        for c, s in zip(d.containers, placed.containers, strict=True):
            assert (c.limits.memory_request_bytes, c.limits.memory_bytes) == (s.memory_request_bytes,
                                                                             s.memory_limit_bytes)  # fmt: skip
            assert (c.limits.cpu_request, c.limits.cpus) == (s.cpu_request, s.cpu_limit)
            assert s.peak_memory_bytes <= s.memory_request_bytes <= s.memory_limit_bytes <= placed.memory_capacity_bytes
        capacity = Capacity(placed.memory_capacity_bytes, f"{placed.instance} memory", placed.vcpu, "its vCPUs")
        book = admit(d, capacity)
        assert book.reserve_bytes == plan.memory_reserve_bytes and book.free_bytes >= 0


def test_request_is_the_peak_with_the_headroom_free_above_it_and_the_limit_twice_that() -> None:
    s = size_container(Workload("m", 100 * MIB, 0.4, rps=2.0), "m", SMALL, 0.2, 256 * MIB)
    assert (s.memory_request_bytes, s.memory_limit_bytes) == (125 * MIB, 250 * MIB)  # 100 / 0.8; x2
    assert (s.cpu_request, s.cpu_limit) == (0.5, None)  # Cpus unset: CPU shared by weight
    odd = size_container(Workload("m", 100 * MIB + 1, 0.0101), "m", SMALL, 0.0, 0)
    assert (odd.memory_request_bytes, odd.cpu_request) == (101 * MIB, 0.011)  # up to a whole MiB, a millicore


def test_the_limit_never_passes_the_instance_less_the_reserve_and_a_given_cpu_limit_is_kept() -> None:
    big = size_container(Workload("big", 2 * GIB, 3.0, cpu_limit=1.5), "big", SMALL, 0.2, 256 * MIB)
    assert big.memory_request_bytes == 2560 * MIB and big.memory_limit_bytes == 4 * GIB - 256 * MIB
    assert (big.cpu_request, big.cpu_limit) == (1.5, 1.5)  # a request above the quota could never be used


def test_names_become_hostnames_coserve_accepts_and_a_clash_gets_a_suffix() -> None:
    names = ["churn_model v2", "a_b", "a.b", "__", "x" * 80, "ok-name"]
    out = hostnames(names)
    assert out[:4] == ["churn-model-v2", "a-b", "a-b-2", "model"] and out[5] == "ok-name"
    assert all(HOSTNAME.match(h) for h in out) and len(set(out)) == len(out)


def test_the_benchmarks_plan_emits_one_file_coserve_parses_and_admits_on_ml_m5_large(tmp_path: Path) -> None:
    plan = make_plan(workloads_from_benchmark(BENCHMARK), load_catalog(), Policy(headroom=0.2))
    paths = write(plan, tmp_path / "out", f"--benchmark {BENCHMARK}")
    check_admitted(plan, paths)
    text = paths[0].read_text()
    assert text.startswith("# coserve plan: instance 1 of 1, ml.m5.large (EC2 m5.large): 2 vCPUs, 8.0GiB\n")
    assert "# Headroom 20%: MemoryRequest = peak / 0.80" in text and f"Figures from --benchmark {BENCHMARK}" in text
    config = json.loads(BENCHMARK.read_text())["config"]
    assert all(f"#   {m['hostname']}: peak memory " in text for m in config["models"])
    placed = json.loads(plan.to_json())["placements"][0]["containers"]
    assert {c["hostname"] for c in placed} == {m["hostname"] for m in config["models"]}


def test_figures_read_from_metrics_keep_a_containers_cpu_limit() -> None:
    text = (
        'coserve_container_memory_bytes{endpoint="e",variant="v",container="capped"} 104857600\n'
        'coserve_container_cpu_utilization_percent{endpoint="e",variant="v",container="capped"} 40\n'
        'coserve_container_cpu_limit_cores{endpoint="e",variant="v",container="capped"} 0.5\n'
        'coserve_container_memory_bytes{endpoint="e",variant="v",container="shared"} 104857600\n'
    )
    by_name = {w.name: w for w in workloads_from_texts([(0.0, text)])}
    assert (by_name["capped"].cpu_limit, by_name["shared"].cpu_limit) == (0.5, None)
    assert size_container(by_name["capped"], "capped", SMALL, 0.2, 0).cpu_limit == 0.5


def test_requests_rounded_past_an_instance_packed_to_the_byte_are_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    exact = Policy(headroom=0.0, reserve_memory_bytes=0, reserve_cpus=0.0, cpu_per_request=0.0)
    third = 4 * GIB // 3  # three fill ml.s to the byte; each request rounds up to 1366 MiB: 4098 MiB in all
    plan = make_plan([Workload(f"m{n}", third, 0.1) for n in range(3)], CATALOG, exact)
    assert [p.instance for p in plan.placements] == ["ml.s"]
    with pytest.raises(EmitError, match=r"ml\.s \(m0, m1, m2\): requests 4.0GiB .* raise --headroom"):
        write(plan, tmp_path / "out", "test")
    assert not (tmp_path / "out").exists()


names = st.text("abc_.-", min_size=1, max_size=8)
workloads = st.lists(
    st.builds(
        Workload,
        name=names,
        memory_bytes=st.integers(0, 12 * GIB),
        cpus=st.floats(0, 6, allow_nan=False),
        rps=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
        cpu_limit=st.one_of(st.none(), st.floats(0.01, 8, allow_nan=False)),
    ),
    max_size=20,
    unique_by=lambda x: x.name,
)


@settings(max_examples=40, deadline=None)
@given(workloads, st.sampled_from([0.2, 0.5]))
def test_every_emitted_file_parses_and_fits_admission_on_its_instance(ws: list[Workload], headroom: float) -> None:
    import tempfile

    plan = make_plan(ws, CATALOG, Policy(headroom=headroom))
    with tempfile.TemporaryDirectory() as tmp:
        check_admitted(plan, write(plan, Path(tmp) / "out", "random figures"))
    assert all(re.fullmatch(r"[a-zA-Z0-9-]+", s.hostname) for p in plan.placements for s in p.containers)
