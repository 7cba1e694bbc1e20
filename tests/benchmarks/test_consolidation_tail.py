"""The tail attribution of the consolidation benchmark: request windows against a CPU timeline.

Hand-made timelines check the arithmetic (each window's share of each counter, who was in flight) and the
causes named; one test runs the real sampler against a real cgroup with a real CPU burner in it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.consolidation_tail import FIELDS, _in_flight, attribute, busiest, context, pooled
from benchmarks.cpu_timeline import Sampler, Timeline, sources
from benchmarks.instance import InstanceCgroup

NS, US = 1e-9, 1e-6


def timeline(**columns: list[float]) -> Timeline:
    """Samples at t = 0, 1, 2, 3, 4 s; CPU columns in ns, pressure in µs, throttled in periods."""
    scale = {n: (US if n == "pressure" else 1.0 if n == "throttled" else NS) for n in columns}
    return Timeline(np.arange(5.0), {n: np.asarray(v, dtype=float) for n, v in columns.items()}, scale)


def test_in_flight_counts_the_earlier_arrivals_not_yet_answered_at_each_start() -> None:
    spans = np.array([[0.0, 5.0], [1.0, 2.0], [3.0, 4.0]])
    assert _in_flight(np.array([0.0, 1.0, 1.5, 2.0, 3.0, 6.0]), spans).tolist() == [0, 1, 2, 1, 1, 0]
    assert _in_flight(np.array([1.0]), np.empty((0, 2))).tolist() == [0]


def test_each_window_gets_its_share_of_every_counter_and_who_ran_most_beside_it() -> None:
    tl = timeline(
        instance=[0, 1.0e9, 3.0e9, 3.5e9, 4.0e9],  # 2 cores busy in [1, 2]
        **{"c:a": [0, 0.2e9, 0.5e9, 0.7e9, 0.9e9], "c:b": [0, 0.3e9, 1.9e9, 2.0e9, 2.1e9]},
        pressure=[0, 0, 0.6e6, 0.6e6, 0.7e6],
        throttled=[0, 0, 3, 3, 3],
    )
    ctx = context({"a": [(1.0, 2.0), (3.0, 3.5)], "b": [(1.5, 3.0)]}, tl)
    a = ctx["a"]
    assert a["own_cpu_ms"] == [300.0, 100.0]
    assert a["neighbour_cpu_ms"] == [1600.0, 50.0]
    assert a["front_cpu_ms"] == pytest.approx([100.0, 100.0])  # 2000 - 300 - 1600; 250 - 100 - 50
    assert a["stall_ms"] == [600.0, 50.0]
    assert a["throttled"] == [3.0, 0.0]
    assert a["others_in_flight"] == [0, 0] and a["own_in_flight"] == [0, 0]
    assert a["top"] == ["b", "front door"] and a["top_ms"] == pytest.approx([1600.0, 100.0])
    assert ctx["b"]["others_in_flight"] == [1]  # a's first request was in flight when b's arrived
    assert ctx["b"]["top"] == ["a"]


def _ctx(n: int, slow: list[int], **over_slow: float) -> dict[str, list[float]]:
    """n quiet requests; those at `slow` take FIELDS values from over_slow (per request, in ms or counts)."""
    base = {"own_cpu_ms": 2.0, "neighbour_cpu_ms": 1.0, "front_cpu_ms": 0.5, "stall_ms": 0.2, "throttled": 0.0,
            "own_in_flight": 0.0, "others_in_flight": 0.0}  # fmt: skip
    return {k: [over_slow.get(k, base[k]) if i in slow else base[k] for i in range(n)] for k in FIELDS}


def test_slow_requests_that_waited_for_a_cpu_beside_busy_neighbours_are_named_cpu_contention() -> None:
    lat = [10.0] * 95 + [40.0] * 5
    ctx: dict[str, list[object]] = dict(_ctx(100, [95, 96, 97, 98, 99], stall_ms=24.0, neighbour_cpu_ms=60.0))
    ctx["top"] = ["front door"] * 95 + ["m02"] * 4 + ["m03"]
    t = attribute(lat, ctx, a_p99=20.0, vcpus=2.0)
    assert (t.tail.n, t.rest.n, t.label) == (5, 95, "CPU contention")
    assert t.tail.stall == pytest.approx(0.6) and t.rest.stall == pytest.approx(0.02)
    assert t.tail.neighbour_cores == pytest.approx(1.5)
    assert "waited for a CPU 60% of the time (host PSI) against 2%" in t.causes[0]
    assert "m02 in 4, m03 in 1 of them" in t.causes[0]
    assert busiest(ctx, np.array(lat) > 20.0) == [("m02", 4), ("m03", 1)]


def test_slow_requests_that_did_more_work_of_their_own_are_named_so_and_queueing_behind_itself_too() -> None:
    lat = [10.0] * 96 + [50.0] * 4
    t = attribute(lat, _ctx(100, [96, 97, 98, 99], own_cpu_ms=30.0, own_in_flight=1.0), a_p99=20.0, vcpus=2.0)
    assert t.label == "own work, own queue"
    assert "used 30.0 ms of its CPU each against 2.0 ms" in t.causes[0]
    assert "100% of its 4 of 100 requests in B above A's p99 (20.0 ms) arrived while an earlier one" in t.causes[1]


def test_slow_requests_that_look_like_the_rest_are_not_blamed_on_anything() -> None:
    lat = [10.0] * 97 + [30.0] * 3
    t = attribute(lat, _ctx(100, []), a_p99=20.0, vcpus=2.0)
    assert t.label == "none measured" and "nothing measured sets" in t.causes[0]
    quiet = attribute([5.0] * 50, _ctx(50, []), a_p99=20.0, vcpus=2.0)
    assert quiet.label == "-" and quiet.tail.n == 0 and "none of its 50 requests" in quiet.causes[0]


def test_throttled_windows_at_the_tail_name_the_quota() -> None:
    lat = [10.0] * 98 + [30.0] * 2
    t = attribute(lat, _ctx(100, [98, 99], throttled=2.0), a_p99=20.0, vcpus=2.0)
    assert t.label == "quota" and "throttled during 100% of" in t.causes[0]


def test_contexts_pool_in_the_order_of_the_latencies_and_an_old_result_has_none() -> None:
    one, two = {"context": _ctx(2, [])}, {"context": _ctx(3, [1], stall_ms=9.0)}
    got = pooled([one, two])
    assert got is not None and got["stall_ms"] == [0.2, 0.2, 0.2, 9.0, 0.2] and got["top"] == []
    assert pooled([one, {"latencies_ms": [1.0]}]) is None


@pytest.mark.integration
def test_the_sampler_reads_a_real_cgroup_and_a_window_holds_the_cpu_its_burner_used(tmp_path: Path) -> None:
    cg = InstanceCgroup(f"coserve-test-timeline-{time.monotonic_ns()}", 1.0, 256 * 2**20).create()
    try:
        columns = sources(cg.cpu_dir(), {"burner": cg.cpu_dir()}, cg.cpu_stat_dir())
        assert set(columns) >= {"instance", "c:burner", "throttled"}
        burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
        burn += "print(time.process_time())"
        with Sampler(columns, tmp_path / "t.bin") as sampler:
            quiet = (time.perf_counter(), time.perf_counter() + 0.05)
            time.sleep(0.1)  # a window with nothing running in the cgroup, fully sampled before the burner starts
            start = time.perf_counter()
            out = subprocess.run(cg.prologue([sys.executable, "-c", burn]), capture_output=True, check=True)
            end = time.perf_counter()
            time.sleep(0.05)  # let the sampler read past the burner's end
            tl = sampler.stop()
        used = float(out.stdout.split()[-1])  # the burner's own CPU seconds (its interpreter start included)
        window = tl.delta("c:burner", np.array([quiet[0], start]), np.array([quiet[1], end]))
        assert window[0] == pytest.approx(0.0, abs=0.005)
        assert used * 0.9 <= window[1] <= used * 1.1 + 0.02
        assert len(tl.t) > 40 and np.all(np.diff(tl.t) > 0)
    finally:
        cg.remove()
