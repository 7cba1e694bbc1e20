"""The consolidation result, model by model: pooled latencies, p99 ratios with intervals, verdicts, the plan check.

Rows are computed from the JSON the run wrote (so a report can be rendered again from it), once per B variant
(a CPU mode, or the run with machine-sized thread pools).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.consolidation_stats import MIN_REQUESTS, SLO, Figures, causes, p99_ratio, passes, shortfall
from benchmarks.consolidation_tail import Tail, attribute, pooled
from runtime.units import parse_size

MIB = 2**20


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def ran(doc: dict[str, Any]) -> list[str]:
    """The B variants that ran (in the order asked), the first being the headline."""
    names: dict[str, None] = {}
    for r in doc["results"]["rounds"]:
        names.update({n: None for n, b in r.get("B", {}).items() if "containers" in b})
    return list(names)


def not_run(doc: dict[str, Any]) -> dict[str, str]:
    """{variant: why} for the variants that did not run in any round."""
    out: dict[str, str] = {}
    for r in doc["results"]["rounds"]:
        out.update({n: b["not_applicable"] for n, b in r.get("B", {}).items() if "not_applicable" in b})
    return {n: why for n, why in out.items() if n not in ran(doc)}


def b_runs(doc: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    return [r["B"][variant] for r in doc["results"]["rounds"] if "containers" in r.get("B", {}).get(variant, {})]


def _side(cs: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [x for c in cs for x in c["latencies_ms"]]
    return {
        "latencies": lat, "n": len(lat), "p50": _pct(lat, 50), "p99": _pct(lat, 99),
        "mean": float(np.mean(lat)) if lat else None, "service_ms": _mean([c.get("service_ms") for c in cs]),
        "errors": sum(sum(c["errors"].values()) for c in cs),
        "ready_s": float(np.median([c["ready_s"] for c in cs if c["ready_s"] is not None] or [np.nan])),
        "idle_mib": float(np.median([c["idle_memory_bytes"] for c in cs])) / MIB,
        "peak": max(c["peak_memory_bytes"] for c in cs), "cpu_cores": float(np.median([c["cpu_cores"] for c in cs])),
        "throttled": sum(c.get("nr_throttled", 0) for c in cs),
    }  # fmt: skip


def per_model(doc: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    """Per model, pooled over rounds: A and B (this variant) figures, the ratio with its interval, the verdict."""
    rounds = doc["results"]["rounds"]
    bs = b_runs(doc, variant)
    rows = []
    for i, m in enumerate(doc["config"]["models"]):
        h = m["hostname"]
        a = _side([r["A"]["containers"][h] for r in rounds if "A" in r])
        b = _side([x["containers"][h] for x in bs])
        latencies_b = b.pop("latencies")
        ratio = p99_ratio(a.pop("latencies"), latencies_b, seed=i)
        ctx = pooled([x["containers"][h] for x in bs])
        tail = None if ctx is None else attribute(latencies_b, ctx, a["p99"], float(bs[0]["cgroup_cpus"]))
        limit = bs[0]["sizes"][h].get("Memory")
        alone = [r["A"]["instances"][h] for r in rounds if "A" in r]
        figures = Figures(
            throttled_b=b["throttled"],
            instance_throttled_a=sum(x.get("instance_nr_throttled", 0) for x in alone),
            instance_throttled_b=sum(x.get("instance_nr_throttled", 0) for x in bs),
            mean_ms_a=a["mean"], mean_ms_b=b["mean"], container_ms_a=a["service_ms"], container_ms_b=b["service_ms"],
            peak_memory_b=b["peak"], memory_limit_b=parse_size(limit) if limit is not None else None,
            oom_kills_b=max(x["oom_kills"] for x in bs),
        )  # fmt: skip
        ok = passes(ratio, a["errors"], b["errors"])
        rows.append({**m, "A": a, "B": b, "ratio": ratio, "ok": ok, "tail": tail,
                     "shortfall": shortfall(ratio, a["errors"], b["errors"]),
                     "causes": [] if ok else why(figures, tail)})  # fmt: skip
    return rows


def why(figures: Figures, tail: Tail | None) -> list[str]:
    """The causes of a failing model: measured at the tail where the run has a CPU timeline, then what the run's
    totals add (throttling of its own quota, memory); a result without a timeline keeps the run-level causes."""
    if tail is None:
        return causes(figures)
    run = [c for c in causes(figures) if c.startswith(("CPU quota", "memory"))]
    return [f"at the tail, {c}" for c in tail.causes] + [f"over the run, {c}" for c in run]


def verdict(rows: list[dict[str, Any]], c: dict[str, float], variant: str) -> str:
    failed = [r for r in rows if not r["ok"]]
    if failed:
        lines = [
            f"**SLO not shown** with B `{variant}` (upper bound of the 95% interval of p99 B/A above {SLO:.2f}, "
            f"fewer than {MIN_REQUESTS} requests a side, or more errors) for {len(failed)} of {len(rows)} models: "
            "no saving is stated at equal latency."
        ]
        lines += [f"- {r['hostname']}: {r['shortfall']}. Why: {'; '.join(r['causes'])}." for r in failed]
        return "\n".join(lines)
    sm, ec2 = 1 - c["sm_b"] / c["sm_a"], 1 - c["ec2_b"] / c["ec2_a"]
    return (f"**Saving at equal latency** with B `{variant}` (every model's p99 B/A within {SLO:.2f} at the upper "
            f"bound of its 95% interval): {sm:.0%} on SageMaker (${c['sm_a']:,.0f} -> ${c['sm_b']:,.0f} a month), "
            f"{ec2:.0%} self-hosted on EC2 (${c['ec2_a']:,.0f} -> ${c['ec2_b']:,.0f}).")  # fmt: skip


def plan_check(doc: dict[str, Any]) -> str:
    """`coserve plan --benchmark` on this very result (the advisor's default 20% headroom, which is the x1.25 the
    benchmark sizes B with): does it put every model on the one instance B ran in?"""
    from runtime.cli.plan.bench import workloads_from_benchmark
    from runtime.cli.plan.catalog import load_catalog
    from runtime.cli.plan.pack import Policy, make_plan

    cfg = doc["config"]
    with tempfile.TemporaryDirectory() as tmp:
        path, prices = Path(tmp) / "result.json", Path(tmp) / "prices.json"
        path.write_text(json.dumps(doc))
        prices.write_text(json.dumps(doc["results"]["prices"]))  # the run's own table, wherever it was read from
        plan = make_plan(workloads_from_benchmark(path), load_catalog(prices),
                         Policy(headroom=1 - 1 / cfg["headroom"]))  # fmt: skip
    got = [f"{len(p.models)} on {p.instance}" for p in plan.placements] + [
        f"{e.name} left alone" for e in plan.excluded
    ]
    same = [p.instance for p in plan.placements] == [cfg["b_instance"]] and not plan.excluded
    return (
        f"`coserve plan --benchmark` on this result (headroom {1 - 1 / cfg['headroom']:.0%}) packs "
        f"{', '.join(got)}: {'matches' if same else 'does NOT match'} B's {cfg['b_instance']}."
    )
