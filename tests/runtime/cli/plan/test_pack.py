"""The consolidation advisor's packing: hand-checked plans, edge cases, and properties over random inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.cli.plan import Catalog, Instance, Policy, Workload, load_catalog, make_plan
from runtime.cli.plan.inputs import PlanInputError, read_endpoints
from runtime.cli.plan.pack import capacity, demand, first_fit_decreasing

GIB = 2**30
# Round numbers so the packings can be checked by hand: no reserve, no per-request CPU, no headroom.
EXACT = Policy(headroom=0.0, reserve_memory_bytes=0, reserve_cpus=0.0, cpu_per_request=0.0)
SMALL = Instance("ml.s", 2, 4 * GIB, 0.10, "s", 0.08)
LARGE = Instance("ml.l", 8, 16 * GIB, 0.40, "l", 0.32)
CATALOG = Catalog((SMALL, LARGE), 730.0, "test prices")


def w(name: str, gib: float, cpus: float, **kw: object) -> Workload:
    return Workload(name, int(gib * GIB), cpus, **kw)  # type: ignore[arg-type]


def test_ffd_places_largest_memory_first_and_fills_earlier_bins_before_opening_new_ones() -> None:
    # 3 + 1 | 2 + 2: by hand, bins of 4 GiB and 2 cores, items sorted 3, 2, 2, 1.
    items = [w("a", 1, 0.5), w("b", 3, 0.5), w("c", 2, 0.5), w("d", 2, 0.5)]
    bins = first_fit_decreasing(items, 4 * GIB, 2.0, EXACT)
    assert [[x.name for x in b] for b in bins] == [["b", "a"], ["c", "d"]]


def test_cpu_is_the_second_dimension_a_bin_full_on_cpu_opens_another() -> None:
    items = [w("a", 1, 1.5), w("b", 1, 1.0), w("c", 1, 0.5)]  # memory fits one bin; CPU does not
    bins = first_fit_decreasing(items, 4 * GIB, 2.0, EXACT)
    assert [[x.name for x in b] for b in bins] == [["a", "c"], ["b"]]


def test_the_plan_picks_the_cheapest_packing_and_right_sizes_each_bin() -> None:
    # Six 1.5 GiB / 0.5-core models: small bins hold two each (3 x $0.10); one large holds all (1 x $0.40).
    plan = make_plan([w(f"m{n}", 1.5, 0.5) for n in range(6)], CATALOG, EXACT)
    assert [p.instance for p in plan.placements] == ["ml.s", "ml.s", "ml.s"]
    assert plan.after_sagemaker_usd_month == pytest.approx(3 * 0.10 * 730)
    assert plan.before_sagemaker_usd_month == pytest.approx(6 * 0.10 * 730)  # each alone on the smallest fit
    assert plan.placements[0].memory_headroom == 0.25 and plan.placements[0].cpu_headroom == 0.5


def test_headroom_and_reserve_shrink_every_bin() -> None:
    policy = Policy(headroom=0.25, reserve_memory_bytes=GIB, reserve_cpus=0.5, cpu_per_request=0.01)
    assert capacity(SMALL, policy) == (2 * GIB, 1.0)  # 4 GiB x 0.75 - 1 GiB; 2 x 0.75 - 0.5
    assert demand(w("a", 1, 0.2, rps=10.0), policy) == (GIB, pytest.approx(0.3))


def test_a_gpu_model_a_tight_p99_budget_and_a_model_bigger_than_any_instance_stay_alone_with_reasons() -> None:
    plan = make_plan(
        [
            w("vision", 2, 1, instance_type="ml.g4dn.xlarge"),
            w("flagged", 1, 0.1, gpu=True),
            w("tight", 1, 0.1, p99_ms=95.0, p99_budget_ms=100.0),
            w("roomy", 1, 0.1, p99_ms=50.0, p99_budget_ms=100.0),
            w("huge", 64, 1),
            w("busy", 1, 9.0),
        ],
        CATALOG,
        EXACT,
    )
    why = {e.name: e.reason for e in plan.excluded}
    assert set(why) == {"vision", "flagged", "tight", "huge", "busy"}
    assert why["vision"].startswith("needs an accelerator (ml.g4dn.xlarge)")
    assert why["tight"].startswith("p99 budget: observed p99 95 ms")
    assert why["huge"].startswith("memory/CPU: peak 64.0GiB") and why["busy"].startswith("memory/CPU:")
    assert [p.models for p in plan.placements] == [("roomy",)]
    assert set(plan.unpriced) == {"vision", "flagged", "huge", "busy"}  # no table price for where they run


def test_empty_input_is_an_empty_plan() -> None:
    plan = make_plan([], CATALOG, EXACT)
    assert (plan.placements, plan.excluded, plan.before_sagemaker_usd_month, plan.after_sagemaker_usd_month) == (
        (), (), 0.0, 0.0,
    )  # fmt: skip
    assert json.loads(plan.to_json())["placements"] == []


def test_the_price_table_loads_and_holds_every_family_the_advisor_chooses_from() -> None:
    catalog = load_catalog()
    families = {i.name.split(".")[1] for i in catalog.instances}
    assert {"c5", "m5", "c6i", "m6i", "r5"} <= families
    assert all(i.sagemaker_usd_per_hour > i.ec2_usd_per_hour > 0 for i in catalog.instances)
    rows = json.loads(Path("benchmarks/prices.json").read_text())["instances"].values()
    assert all(r["sagemaker_source"] and r["ec2_source"] and r["read"] for r in rows)


def test_an_endpoints_file_reads_cloudwatch_percentages_and_reports_every_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("Endpoints:\n  - {EndpointName: a, InstanceType: ml.s, CpuUtilization: 50, MemoryUtilization: 25,"
                    " P99Latency: 40ms}\n")  # fmt: skip
    (a,) = read_endpoints(good, CATALOG)
    assert (a.cpus, a.memory_bytes, a.p99_ms) == (0.5, GIB, 40.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("Endpoints:\n  - {EndpointName: a, PeakCpu: -1, PeakMemory: lots, Colour: red}\n  - 7\n")
    with pytest.raises(PlanInputError) as info:
        read_endpoints(bad, CATALOG)
    assert info.value.problems == [
        "Endpoints[0].Colour: unknown key (expected one of CpuUtilization, EndpointName, Gpu, InstanceCount, "
        "InstanceType, MemoryUtilization, P99Budget, P99Latency, PeakCpu, PeakMemory, RequestsPerSecond)",
        "Endpoints[0].PeakMemory: a size such as 600MiB or 2GiB (got 'lots')",
        "Endpoints[0].PeakCpu: must be a number >= 0 (got -1)",
        "Endpoints[1]: expected a mapping (got 7)",
    ]


workloads = st.lists(
    st.builds(
        Workload,
        name=st.text("abcdefgh", min_size=1, max_size=6),
        memory_bytes=st.integers(0, 40 * GIB),
        cpus=st.floats(0, 12, allow_nan=False),
        rps=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
        p99_ms=st.one_of(st.none(), st.floats(0.1, 500, allow_nan=False)),
        p99_budget_ms=st.one_of(st.none(), st.floats(0.1, 500, allow_nan=False)),
        gpu=st.booleans(),
    ),
    max_size=25,
    unique_by=lambda x: x.name,
)


@settings(max_examples=200, deadline=None)
@given(workloads, st.sampled_from([0.0, 0.2, 0.5]))
def test_no_bin_is_over_capacity_and_every_model_is_placed_or_reported(ws: list[Workload], headroom: float) -> None:
    policy = Policy(headroom=headroom)
    plan = make_plan(ws, CATALOG, policy)
    placed = [m for p in plan.placements for m in p.models]
    assert sorted(placed + [e.name for e in plan.excluded]) == sorted(x.name for x in ws)
    assert len(set(placed)) == len(placed)
    by_name = {x.name: x for x in ws}
    for p in plan.placements:
        instance = next(i for i in CATALOG.instances if i.name == p.instance)
        cap_memory, cap_cpus = capacity(instance, policy)
        assert sum(demand(by_name[m], policy)[0] for m in p.models) <= cap_memory
        assert sum(demand(by_name[m], policy)[1] for m in p.models) <= cap_cpus + 1e-6
    alone = sum(_alone(by_name[m], policy) for m in placed)  # every placed model on its own cheapest instance
    assert sum(p.sagemaker_usd_month for p in plan.placements) <= alone * CATALOG.hours_per_month + 1e-6


def _alone(x: Workload, policy: Policy) -> float:
    m, c = demand(x, policy)
    fits = [i for i in CATALOG.instances if m <= capacity(i, policy)[0] and c <= capacity(i, policy)[1] + 1e-9]
    return min(i.sagemaker_usd_per_hour for i in fits)


def test_small_models_that_together_need_a_big_instance_go_one_per_instance_instead() -> None:
    # Large bins: [15] and [3, 3]; the second would need ml.l ($0.40) where two ml.s cost $0.20.
    plan = make_plan([w("big", 15, 1), w("x", 3, 0.5), w("y", 3, 0.5)], CATALOG, EXACT)
    assert sorted((p.instance, p.models) for p in plan.placements) == [
        ("ml.l", ("big",)), ("ml.s", ("x",)), ("ml.s", ("y",)),
    ]  # fmt: skip


def test_plan_on_the_benchmarks_own_measurements_reproduces_the_instance_b_used() -> None:
    """The acceptance check of issue 17: scenario A's figures, packed, land on the instance B ran in."""
    from runtime.cli.plan.bench import workloads_from_benchmark

    path = Path("benchmarks/results/consolidation-15.json")
    config = json.loads(path.read_text())["config"]
    ws = workloads_from_benchmark(path)
    assert len(ws) == len(config["models"]) == 15
    plan = make_plan(ws, load_catalog(), Policy(headroom=1 - 1 / config["headroom"]))  # its x1.25 = 20% kept free
    assert [p.instance for p in plan.placements] == [config["b_instance"]] and plan.excluded == ()
