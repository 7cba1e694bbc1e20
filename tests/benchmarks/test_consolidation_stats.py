"""The consolidation benchmark's statistics and verdict: bootstrap intervals on hand-made samples, fixed seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.consolidation_report import render
from benchmarks.consolidation_setup import deployment, machine_environment, rates, variants
from benchmarks.consolidation_stats import Figures, causes, p99, p99_ratio, passes, shortfall

QUIET = Figures(0, 0, 0, 10.0, 10.0, 9.0, 9.0, 100 * 2**20, 1024 * 2**20, 0)


def test_identical_constant_samples_give_a_ratio_of_exactly_one_with_no_spread() -> None:
    r = p99_ratio([5.0] * 150, [5.0] * 150, resamples=200)
    assert (r.ratio, r.low, r.high, r.n_a, r.n_b) == (1.0, 1.0, 1.0, 150, 150)
    assert passes(r) and shortfall(r) == ""


def test_a_p99_from_fewer_than_a_hundred_requests_proves_nothing_however_narrow_its_interval() -> None:
    r = p99_ratio([5.0] * 99, [5.0] * 400, resamples=200)
    assert (r.ratio, r.low, r.high) == (1.0, 1.0, 1.0) and not passes(r)
    assert (
        shortfall(r) == "too few requests for a p99 (99 in A, 400 in B; at least 100 a side), p99 ratio 1.00 "
        "(95% CI 1.00-1.00)"
    )


def test_a_large_sample_of_the_same_latencies_has_a_tight_interval_around_one_and_passes() -> None:
    same = [float(x) for x in range(1, 4001)]  # p99 is known: 3960.01
    assert p99(same) == pytest.approx(3960.01)
    r = p99_ratio(same, same, seed=1)
    assert r.ratio == 1.0 and 0.97 < r.low <= 1.0 <= r.high < 1.03
    assert passes(r)


def test_b_twice_as_slow_fails_by_the_upper_bound_and_says_by_how_much() -> None:
    a = [float(x) for x in range(1, 2001)]
    r = p99_ratio(a, [2 * x for x in a], seed=3)
    assert r.ratio == pytest.approx(2.0) and 1.9 < r.low <= 2.0 <= r.high < 2.1
    assert not passes(r)
    assert shortfall(r).startswith(f"p99 ratio 2.00 (95% CI {r.low:.2f}-{r.high:.2f}): upper bound +")


def test_the_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    rng = np.random.default_rng(7)
    a, b = list(rng.exponential(10, 300)), list(rng.exponential(11, 300))
    assert p99_ratio(a, b, seed=5) == p99_ratio(a, b, seed=5)
    assert p99_ratio(a, b, seed=5).high != p99_ratio(a, b, seed=6).high
    assert p99_ratio(a, b, seed=5).ratio == p99_ratio(a, b, seed=6).ratio  # the point estimate needs no seed


def test_a_fine_point_ratio_with_a_wide_interval_is_not_enough() -> None:
    """200 requests, two slow: whether a resample's p99 lands on them varies, so the interval is wide."""
    a = [10.0] * 198 + [50.0, 60.0]
    r = p99_ratio(a, list(a), seed=0)
    assert r.ratio == 1.0 and r.low < 0.5 and r.high > 2
    assert not passes(r) and "the interval is too wide (200/200 requests)" in shortfall(r)


def test_more_errors_in_b_fail_even_at_equal_latency_and_no_latencies_say_so() -> None:
    r = p99_ratio([5.0] * 100, [5.0] * 100, resamples=100)
    assert passes(r, 0, 0) and passes(r, 2, 1) and not passes(r, 0, 1)
    assert shortfall(r, 0, 3) == "3 errors in B against 0 alone"
    empty = p99_ratio([1.0], [], resamples=10)
    assert math.isnan(empty.high) and not passes(empty)
    assert shortfall(empty) == "no latencies to compare (1 in A, 0 in B)"
    assert shortfall(p99_ratio([5.0] * 50, [5.0] * 50, resamples=10), 0, 1).endswith("; 1 errors in B against 0 alone")


def test_causes_name_throttling_contention_queueing_and_memory_with_their_figures() -> None:
    f = Figures(throttled_b=40, instance_throttled_a=2, instance_throttled_b=90, mean_ms_a=12.0, mean_ms_b=60.0,
                container_ms_a=10.0, container_ms_b=30.0, peak_memory_b=950 * 2**20, memory_limit_b=1024 * 2**20,
                oom_kills_b=0)  # fmt: skip
    assert causes(f) == [
        "CPU quota: its cgroup was throttled in 40 periods (nr_throttled)",
        "instance CPU: the instance cgroup was throttled in 90 periods (A: 2)",
        "contention in the container: its mean service time went 10.0 -> 30.0 ms (CPU shared with the other models)",
        "queueing outside the container (latency minus service time): 2.0 -> 30.0 ms mean",
        "memory: peak 950 MiB within 10% of its 1024 MiB limit",
    ]
    assert causes(Figures(0, 0, 0, None, None, None, None, 0, None, 2)) == ["memory: 2 OOM kills in B"]
    assert causes(QUIET)[0].startswith("none of throttling, queueing")


def test_rates_are_spread_or_listed_and_must_stay_within_the_low_traffic_range() -> None:
    assert rates("0.2-2", 4) == [0.2, 0.8, 1.4, 2.0]
    assert rates("0.5", 2) == [0.5, 0.5] and rates("0.3,1.5", 2) == [0.3, 1.5]
    for bad, says in [("1-5", "--rate 1-5: 3 requests/s is outside 0.2-2"), ("0.1", "0.1 requests/s is outside"),
                      ("0.3,1", "2 values for 3 models"), ("fast", "expected a number")]:  # fmt: skip
        with pytest.raises(SystemExit, match=says):
            rates(bad, 3)


def test_variants_leave_out_pinning_the_host_cannot_hold_and_add_the_machine_sized_run() -> None:
    vs = variants("weight,quota,pinned", True, 10_000, 1.0)
    assert [v["name"] for v in vs] == ["weight", "quota", "pinned", "weight, machine threads"]
    assert "needs 10000 cores plus one for coserve" in vs[2]["not_applicable"]
    assert vs[3]["machine_threads"] and vs[3]["mode"] == "weight" and vs[3]["not_applicable"] is None
    with pytest.raises(SystemExit, match="--cpu-modes 'weight,fast'"):
        variants("weight,fast", False, 1, 1.0)
    # B's instance decides, not the host: 15 pinned containers fit 16 cores, not a 2-vCPU instance on them
    assert variants("pinned", False, 15, 1.0, cores=16)[0]["not_applicable"] is None
    assert "B has 2" in variants("pinned", False, 15, 1.0, cores=2)[0]["not_applicable"]


def test_each_variant_writes_its_cpu_mode_and_the_machine_run_overrides_the_pools(tmp_path: Path) -> None:
    models = [{"hostname": "m01-tensorflow", "kind": "tensorflow", "rate": 1.0}]
    arts = {"tensorflow": tmp_path / "m.tar.gz"}
    sizing = ({"m01-tensorflow": {"memory": 300 * 2**20, "cpu": 0.05}}, 64 * 2**20)
    quota = deployment(models, arts, sizing, {"mode": "quota", "machine_threads": False}, 1.0)
    assert quota["Coserve"]["Containers"]["m01-tensorflow"]["CpuMode"] == "quota"
    assert quota["Coserve"]["Containers"]["m01-tensorflow"]["Cpus"] == 1.0
    machine = deployment(models, arts, sizing, {"mode": "weight", "machine_threads": True}, 1.0)
    assert "Cpus" not in machine["Coserve"]["Containers"]["m01-tensorflow"]
    env = machine["Containers"][0]["Environment"]
    assert env == {**env, **machine_environment("tensorflow", __import__("os").cpu_count() or 1)}
    assert machine_environment("tensorflow", 16)["SAGEMAKER_TFS_INTRA_OP_PARALLELISM"] == "16"
    assert machine_environment("torchserve", 16)["SAGEMAKER_MODEL_SERVER_WORKERS"] == "16"


def _side(latencies: list[float], peak: int = 100 * 2**20) -> dict[str, Any]:
    return {"latencies_ms": latencies, "errors": {}, "ready_s": 1.0, "idle_memory_bytes": peak,
            "peak_memory_bytes": peak, "cpu_cores": 0.05, "nr_throttled": 0, "service_ms": 4.0}  # fmt: skip


def test_the_report_renders_a_hand_made_result_with_a_failure_explained_and_the_plan_check(tmp_path: Path) -> None:
    models = [{"hostname": f"m0{i}-sklearn", "kind": "sklearn", "rate": 1.0} for i in (1, 2)]
    fast = [float(x % 50 + 5) for x in range(500)]
    instance = {"instance_peak_memory_bytes": 150 * 2**20, "coserve_cpu_cores": 0.01, "instance_nr_throttled": 0}
    a = {"containers": {m["hostname"]: _side(fast) for m in models}, "instances": dict.fromkeys(["m01-sklearn",
         "m02-sklearn"], instance)}  # fmt: skip
    b = {"containers": {"m01-sklearn": _side(fast), "m02-sklearn": {**_side([3 * x for x in fast]), "service_ms": 9.0}},
         "instance_peak_memory_bytes": 300 * 2**20, "oom_kills": 0, "cgroup_cpus": 2.0, "instance_nr_throttled": 7,
         "sizes": {m["hostname"]: {"Memory": 512 * 2**20} for m in models}, "admission": None}  # fmt: skip
    prices = json.loads(Path("benchmarks/prices.json").read_text())
    doc = {"benchmark": "consolidation", "commit": "0" * 40, "when": "now", "command": "x",
           "machine": {"nproc": 2, "cpu": "cpu", "mem_gib": 1, "kernel": "k", "python": "3", "loadavg_at_start": [1]},
           "config": {"models": models, "a_instance": "ml.c5.large", "b_instance": "ml.c5.large", "headroom": 1.25,
                      "seconds": 10, "rounds": 1, "host_cores": 2, "skipped_kinds": {},
                      "prices": "benchmarks/prices.json"},
           "results": {"prices": prices, "rounds": [{"round": 0, "A": a, "B": {
               "weight": b, "pinned": {"not_applicable": "no cores to spare"}}}]}}  # fmt: skip
    text = render(doc, tmp_path / "r.md", tmp_path / "r.png")
    assert "**SLO not shown** with B `weight`" in text and "for 1 of 2 models" in text
    assert "- m02-sklearn: p99 ratio 3.00" in text
    assert "contention in the container: its mean service time went 4.0 -> 9.0 ms" in text
    assert "instance CPU: the instance cgroup was throttled in 7 periods (A: 0)" in text
    assert "- B `pinned`: not applicable: no cores to spare" in text
    assert "packs 2 on ml.c5.large: matches B's ml.c5.large" in text
    assert (tmp_path / "r.md").read_text() == text
