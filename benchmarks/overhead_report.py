"""The overhead benchmark's Markdown report and PNG chart, from its JSON document."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import fmt_spread, provenance, pyplot, table

TARGET_ADDED_US = 100.0  # p50 added at one connection
TARGET_CPU_MS_PER_1K = 100.0  # 10% of a core per 1,000 requests/s
REFERENCES = (
    "Reference points (other proxies, their own machines): HAProxy adds about 51 µs and Envoy about 109 µs "
    "at 1k requests/s (envoyproxy/envoy issue 5536); Ray Serve's HTTP proxy adds 1-2 ms."
)
FAIRNESS = (
    "Fairness on a small shared machine: wrk runs one thread; with `--pin` it has CPU 0 to itself and the "
    "server side (the container, and coserve when it is in the path) has the other CPUs, so both paths are "
    "served by the same CPUs and the proxied path pays for its extra process there. Direct and proxied runs "
    "alternate (rotating order) against the same container process. `max` is closed-loop throughput (queueing "
    "included); `paced` holds a moderate fixed rate with per-connection think time, so its latency is service "
    "time, not queueing. CPU is coserve's cgroup less its containers' (front door + supervisor), per 1,000 "
    "requests. Figures are medians over rounds, with (min-max)."
)


def summarize(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (mode, connections, side): lists over rounds, and the differences to `direct` per round."""
    runs = doc["results"]["runs"]
    sides = [k for k in runs[0] if isinstance(runs[0][k], dict) and k != "direct"]
    keys = list(dict.fromkeys((r["mode"], r["connections"]) for r in runs))
    rows = []
    for mode, conns in keys:
        group = [r for r in runs if r["mode"] == mode and r["connections"] == conns]
        direct = [r["direct"] for r in group]
        for side in sides:
            mine = [r[side] for r in group]
            rows.append({
                "mode": mode, "connections": conns, "side": side,
                "direct_rps": [d["rps"] for d in direct], "rps": [m["rps"] for m in mine],
                "ratio": [m["rps"] / d["rps"] for m, d in zip(mine, direct, strict=True)],
                "direct_p50": [d["p50_us"] for d in direct], "p50": [m["p50_us"] for m in mine],
                "added_p50": [m["p50_us"] - d["p50_us"] for m, d in zip(mine, direct, strict=True)],
                "direct_p99": [d["p99_us"] for d in direct], "p99": [m["p99_us"] for m in mine],
                "cpu_ms_per_1k": [m["coserve_cpu_ms_per_1k"] for m in mine],
                "idle_cores": [d["coserve_cores"] for d in direct],  # coserve's own CPU while not in the path
                "errors": sum(m["socket_errors"] + m["non2xx"] for m in mine),
            })  # fmt: skip
    return rows


def verdicts(rows: list[dict[str, Any]], side: str) -> list[str]:
    out = []
    for row in (r for r in rows if r["side"] == side and r["connections"] == 1):
        added = statistics.median(row["added_p50"])
        ok = "met" if added <= TARGET_ADDED_US else "NOT met"
        out.append(
            f"- p50 added at 1 connection ({row['mode']}): {added:.0f} µs, target ≤ {TARGET_ADDED_US:.0f} µs: {ok}"
        )
    for row in (r for r in rows if r["side"] == side and r["mode"] == "paced"):
        cpu = statistics.median(row["cpu_ms_per_1k"])
        ok = "met" if cpu < TARGET_CPU_MS_PER_1K else "NOT met"
        share = f"{cpu / 10:.0f}% of a core per 1,000 requests/s"
        out.append(f"- CPU at {row['connections']} connections (paced): {share}, target < 10%: {ok}")
    return out


def render(doc: dict[str, Any], md: Path, png: Path) -> str:
    rows = summarize(doc)
    header = ["mode", "conns", "direct rps", "coserve rps", "ratio", "direct p50 µs", "coserve p50 µs",
              "added p50 µs", "direct p99 µs", "coserve p99 µs", "CPU ms / 1k req", "errors"]  # fmt: skip
    parts = [f"# Front-door overhead\n\n{provenance(doc)}\n"]
    for side in dict.fromkeys(r["side"] for r in rows):
        body = [[r["mode"], r["connections"], fmt_spread(r["direct_rps"]), fmt_spread(r["rps"]),
                 fmt_spread(r["ratio"], 2), fmt_spread(r["direct_p50"]), fmt_spread(r["p50"]),
                 fmt_spread(r["added_p50"]), fmt_spread(r["direct_p99"]), fmt_spread(r["p99"]),
                 fmt_spread(r["cpu_ms_per_1k"]), r["errors"]] for r in rows if r["side"] == side]  # fmt: skip
        parts.append(f"## {side}\n\n{table(header, body)}\n\n" + "\n".join(verdicts(rows, side)) + "\n")
    idle = [c for r in rows for c in r["idle_cores"]]
    parts.append(
        f"coserve's own CPU while idle (supervisor ticks, metrics): {statistics.median(idle) * 100:.1f}% of a core.\n"
    )
    parts.append(f"{REFERENCES}\n\n{FAIRNESS}\n")
    if chart(rows, png):
        parts.append(f"![overhead]({png.name})\n")
    text = "\n".join(parts)
    md.write_text(text)
    return text


def chart(rows: list[dict[str, Any]], png: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (mode, side), style in zip(
        sorted({(r["mode"], r["side"]) for r in rows}), itertools.cycle(["o-", "s--", "^-", "v--"]), strict=False
    ):
        mine = [r for r in rows if r["mode"] == mode and r["side"] == side]
        xs = [r["connections"] for r in mine]
        axes[0].plot(xs, [statistics.median(r["added_p50"]) for r in mine], style, label=f"{side}, {mode}")
        axes[2].plot(xs, [statistics.median(r["cpu_ms_per_1k"]) for r in mine], style, label=f"{side}, {mode}")
        if mode == "max":
            axes[1].plot(xs, [statistics.median(r["rps"]) for r in mine], style, label=side)
    maxed = [r for r in rows if r["mode"] == "max"]
    first = [r for r in maxed if r["side"] == maxed[0]["side"]] if maxed else []
    axes[1].plot(
        [r["connections"] for r in first], [statistics.median(r["direct_rps"]) for r in first], "k:", label="direct"
    )
    axes[0].set_yscale("log")
    axes[0].axhline(TARGET_ADDED_US, color="grey", lw=0.8, ls=":", label="target at 1 conn")
    axes[2].axhline(TARGET_CPU_MS_PER_1K, color="grey", lw=0.8, ls=":", label="target")
    titles = ["p50 added by coserve (µs)", "throughput, closed loop (requests/s)", "coserve CPU ms per 1,000 requests"]
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("connections")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return True
