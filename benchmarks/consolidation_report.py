"""The consolidation benchmark's instance choice, Markdown report and PNG chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import provenance, pyplot, table

MIB = 2**20
SLO = 1.10  # B's p99 may be at most 10% above A's, model by model


def choose_instance(a: dict[str, Any], prices: dict[str, Any], headroom: float) -> str:
    """The cheapest instance whose vCPUs and memory hold B's requests: what B's admission will count."""
    need_mem, need_cpu = needs(a, headroom)
    fits = [(p["sagemaker_usd_per_hour"], name) for name, p in prices["instances"].items()
            if p["memory_gib"] * 2**30 >= need_mem and p["vcpu"] >= need_cpu]  # fmt: skip
    if not fits:
        raise SystemExit(f"no instance in the price table holds {need_mem / 2**30:.1f} GiB and {need_cpu} vCPU")
    return str(min(fits)[1])


def requests(a: dict[str, Any], headroom: float) -> tuple[dict[str, dict[str, float]], int]:
    """B's requests from A's measurements: per container its peak memory and its CPU under load, x headroom
    ({hostname: {memory, cpu}}); and coserve's own reserve, the largest front door A saw, x headroom."""
    containers = a["containers"]
    front_mem = max(
        i["instance_peak_memory_bytes"] - containers[h]["peak_memory_bytes"] for h, i in a["instances"].items()
    )
    per = {h: {"memory": _mib_up(headroom * c["peak_memory_bytes"]), "cpu": round(max(headroom * c["cpu_cores"],
               0.01), 2)} for h, c in containers.items()}  # fmt: skip
    return per, _mib_up(headroom * max(front_mem, 0))


def needs(a: dict[str, Any], headroom: float) -> tuple[float, int]:
    """(memory bytes, vCPUs) that B needs: its requests plus coserve's reserve, and the summed CPU x headroom."""
    per, reserve = requests(a, headroom)
    front_cpu = max(i["coserve_cpu_cores"] for i in a["instances"].values())
    cpu = sum(r["cpu"] for r in per.values()) + headroom * front_cpu
    return sum(r["memory"] for r in per.values()) + reserve, max(2, math.ceil(cpu))


def _mib_up(n: float) -> int:
    return math.ceil(n / MIB) * MIB


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def per_model(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Pooled over rounds: latencies, errors; medians of the per-round resource figures."""
    rows = []
    for m in doc["config"]["models"]:
        h, row = m["hostname"], {**m}
        for side in ("A", "B"):
            cs = [r[side]["containers"][h] for r in doc["results"]["rounds"] if side in r]
            lat = [x for c in cs for x in c["latencies_ms"]]
            row[side] = {
                "n": len(lat), "p50": _pct(lat, 50), "p99": _pct(lat, 99),
                "p99_rounds": [_pct(c["latencies_ms"], 99) for c in cs],
                "errors": sum(sum(c["errors"].values()) for c in cs),
                "ready_s": float(np.median([c["ready_s"] for c in cs if c["ready_s"] is not None] or [np.nan])),
                "idle_mib": float(np.median([c["idle_memory_bytes"] for c in cs])) / MIB,
                "peak_mib": max(c["peak_memory_bytes"] for c in cs) / MIB,
                "cpu_cores": float(np.median([c["cpu_cores"] for c in cs])),
            }  # fmt: skip
        row["ratio"] = row["B"]["p99"] / row["A"]["p99"] if row["A"]["p99"] else float("nan")
        rows.append(row)
    return rows


def costs(doc: dict[str, Any]) -> dict[str, float]:
    prices, cfg = doc["results"]["prices"], doc["config"]
    a, b, n = prices["instances"][cfg["a_instance"]], prices["instances"][cfg["b_instance"]], len(cfg["models"])
    hours = prices["hours_per_month"]
    return {
        "sm_a": n * a["sagemaker_usd_per_hour"] * hours, "sm_b": b["sagemaker_usd_per_hour"] * hours,
        "ec2_a": n * a["ec2_usd_per_hour"] * hours, "ec2_b": b["ec2_usd_per_hour"] * hours,
    }  # fmt: skip


def verdict(rows: list[dict[str, Any]], c: dict[str, float]) -> str:
    failed = [r["hostname"] for r in rows if not r["ratio"] <= SLO or r["B"]["errors"] > r["A"]["errors"]]
    if failed:
        return (f"**SLO failed** (p99 in B more than 10% above A's, or more errors) for {', '.join(failed)}: "
                "no saving is stated at equal latency.")  # fmt: skip
    sm, ec2 = 1 - c["sm_b"] / c["sm_a"], 1 - c["ec2_b"] / c["ec2_a"]
    return (f"**Saving at equal latency** (every model's p99 in B within 10% of A's): {sm:.0%} on SageMaker "
            f"(${c['sm_a']:,.0f} -> ${c['sm_b']:,.0f} a month), {ec2:.0%} self-hosted on EC2 "
            f"(${c['ec2_a']:,.0f} -> ${c['ec2_b']:,.0f}).")  # fmt: skip


def render(doc: dict[str, Any], md: Path, png: Path) -> str:
    rows, c, cfg = per_model(doc), costs(doc), doc["config"]
    header = ["model", "rate/s", "requests A/B", "A p50 ms", "A p99 ms", "B p50 ms", "B p99 ms", "p99 B/A",
              "errors A/B", "cold start A/B s", "idle MiB", "peak MiB A/B", "CPU cores A/B"]  # fmt: skip
    body = [[r["hostname"], r["rate"], f"{r['A']['n']}/{r['B']['n']}", f"{r['A']['p50']:.1f}",
             f"{r['A']['p99']:.1f}", f"{r['B']['p50']:.1f}", f"{r['B']['p99']:.1f}", f"{r['ratio']:.2f}",
             f"{r['A']['errors']}/{r['B']['errors']}",
             f"{r['A']['ready_s']:.1f}/{r['B']['ready_s']:.1f}", f"{r['A']['idle_mib']:.0f}",
             f"{r['A']['peak_mib']:.0f}/{r['B']['peak_mib']:.0f}",
             f"{r['A']['cpu_cores']:.3f}/{r['B']['cpu_cores']:.3f}"] for r in rows]  # fmt: skip
    b_runs = [r["B"] for r in doc["results"]["rounds"] if "B" in r]
    b_peak = max(b["instance_peak_memory_bytes"] for b in b_runs) / MIB
    prices = doc["results"]["prices"]
    cost_rows = [["SageMaker real-time", f"{len(rows)} x {cfg['a_instance']}", f"${c['sm_a']:,.0f}",
                  f"1 x {cfg['b_instance']}", f"${c['sm_b']:,.0f}"],
                 ["EC2 (self-hosted)", f"{len(rows)} x {prices['instances'][cfg['a_instance']]['ec2']}",
                  f"${c['ec2_a']:,.0f}", f"1 x {prices['instances'][cfg['b_instance']]['ec2']}",
                  f"${c['ec2_b']:,.0f}"]]  # fmt: skip
    skipped = "".join(f"\n- kind `{k}` left out: {why}" for k, why in cfg["skipped_kinds"].items())
    admitted = _admission(b_runs[0].get("admission"))
    text = "\n".join([
        f"# Consolidation cost\n\n{provenance(doc)}\n",
        f"{len(rows)} models, open-loop Poisson traffic, {cfg['seconds']:g} s per scenario and round, "
        f"{cfg['rounds']} rounds alternating A and B. A: each model alone in coserve in a {cfg['a_instance']} cgroup. "
        f"B: all in one coserve in a {cfg['b_instance']} cgroup (smallest that holds its requests, A's peaks "
        f"x {cfg['headroom']}; "
        f"held to {b_runs[0]['cgroup_cpus']:g} CPUs on this {cfg['host_cores']}-core host); its peak was "
        f"{b_peak:.0f} MiB, OOM kills {max(b['oom_kills'] for b in b_runs)}.{admitted}{skipped}\n",
        table(header, body), "",
        "Latencies are pooled over rounds (per-round p99 in the JSON); cold start is spawn to first `/ping` 200 "
        "(B starts every container at once); CPU is the container's cgroup over the load.\n",
        table(["hosting", "A", "A $/month", "B", "B $/month"], cost_rows), "",
        verdict(rows, c), "",
        f"Prices: {prices['source']} ({prices['region']}, {prices['hours_per_month']} h a month).\n",
    ])  # fmt: skip
    if chart(rows, c, png):
        text += f"\n![consolidation]({png.name})\n"
    md.write_text(text)
    return text


def _admission(host: dict[str, Any] | None) -> str:
    """B's ledger as coserve reported it: requests (each container's A peak x headroom) against the instance."""
    if not host:
        return ""
    return (f" B's containers requested {(host['reserved_bytes'] - host['reserve_bytes']) / MIB:.0f} MiB (A's peaks "
            f"x headroom) + {host['reserve_bytes'] / MIB:.0f} MiB reserve for coserve, of "
            f"{host['capacity_bytes'] / MIB:.0f} MiB ({host['free_bytes'] / MIB:.0f} MiB free); their limits "
            f"add up to {host['limits_bytes'] / MIB:.0f} MiB, overcommitting it by "
            f"{host['overcommit_bytes'] / MIB:.0f} MiB.")  # fmt: skip


def chart(rows: list[dict[str, Any]], c: dict[str, float], png: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    fig, (ax, cost) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    x = np.arange(len(rows))
    for i, (side, q) in enumerate([("A", "p50"), ("A", "p99"), ("B", "p50"), ("B", "p99")]):
        ax.bar(x + (i - 1.5) * 0.2, [r[side][q] for r in rows], 0.2, label=f"{side} {q}")
    ax.set_xticks(x, [r["hostname"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("latency per model: A (one endpoint each) vs B (consolidated)", fontsize=10)
    ax.legend(fontsize=8)
    cost.bar(["SM A", "SM B", "EC2 A", "EC2 B"], [c["sm_a"], c["sm_b"], c["ec2_a"], c["ec2_b"]],
             color=["tab:blue", "tab:orange", "tab:blue", "tab:orange"])  # fmt: skip
    cost.set_title("$ per month", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return True
