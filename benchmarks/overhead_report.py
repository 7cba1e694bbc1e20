"""The overhead benchmark's Markdown report and PNG chart, from its JSON document."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import fmt_spread, provenance, pyplot, table

ANCHOR = "haproxy"
FLOOR = "uvicorn-floor"  # the front door's HTTP server answering itself: not a proxy, no goal of its own
GOAL_RATIO = 2.0  # coserve's added p50 at one connection, and its CPU per 1,000 requests, against HAProxy's
FAIRNESS = (
    "Fairness on a small shared machine: wrk runs one thread; with `--pin` it has CPU 0 to itself and the "
    "server side (the container, and the proxy when one is in the path) has the other CPUs, so every path is "
    "served by the same CPUs and a proxied path pays for its extra process there. Direct, HAProxy and coserve "
    "runs alternate (rotating order) against the same container process (a coserve with N workers runs its own "
    "copy). `max` is closed-loop throughput (queueing included); `paced` holds a moderate fixed rate with "
    "per-connection think time, so its latency is service time, not queueing. CPU is each proxy's cgroup "
    "(coserve's less its containers': front door + supervisor), per 1,000 requests. Figures are medians over "
    "rounds, with (min-max); `x HAProxy` is the ratio of the medians. `uvicorn-floor` is not a proxy: it is "
    "uvicorn with the front door's protocol class answering the echo itself "
    "(benchmarks/containers/uvicorn_floor.py), what the front door's HTTP server costs before any work of its own."
)


def summarize(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (mode, connections, side), direct included: lists over rounds, differences to direct per round."""
    runs = doc["results"]["runs"]
    sides = [k for k in runs[0] if isinstance(runs[0][k], dict)]
    keys = list(dict.fromkeys((r["mode"], r["connections"]) for r in runs))
    rows = []
    for mode, conns in keys:
        group = [r for r in runs if r["mode"] == mode and r["connections"] == conns]
        direct = [r["direct"] for r in group]
        for side in sides:
            mine = [r[side] for r in group]
            rows.append({
                "mode": mode, "connections": conns, "side": side,
                "rps": [m["rps"] for m in mine],
                "ratio": [m["rps"] / d["rps"] for m, d in zip(mine, direct, strict=True)],
                "p50": [m["p50_us"] for m in mine], "p99": [m["p99_us"] for m in mine],
                "added_p50": [m["p50_us"] - d["p50_us"] for m, d in zip(mine, direct, strict=True)],
                "added_p99": [m["p99_us"] - d["p99_us"] for m, d in zip(mine, direct, strict=True)],
                "cpu_ms_per_1k": [m["proxy_cpu_ms_per_1k"] for m in mine],
                "idle_cores": [d["proxy_cores"] for d in direct],  # coserve's own CPU while not in the path
                "errors": sum(m["socket_errors"] + m["non2xx"] for m in mine),
            })  # fmt: skip
    return rows


def _anchor(rows: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in rows if a["side"] == ANCHOR and (a["mode"], a["connections"]) ==
                 (row["mode"], row["connections"])), None)  # fmt: skip


def times_anchor(rows: list[dict[str, Any]], row: dict[str, Any], key: str) -> float | None:
    """The ratio of this row's median `key` to HAProxy's at the same point (None for direct, HAProxy, or <= 0)."""
    anchor = _anchor(rows, row)
    if anchor is None or row["side"] in ("direct", ANCHOR):
        return None
    theirs = statistics.median(anchor[key])
    return statistics.median(row[key]) / theirs if theirs > 0 else None


def _x(value: float | None) -> str:
    return "" if value is None or value < 0 else f"{value:.1f}x"


def verdicts(rows: list[dict[str, Any]], side: str) -> list[str]:
    out = []
    for row in (r for r in rows if r["side"] == side and r["connections"] == 1):
        ratio, anchor = times_anchor(rows, row, "added_p50"), _anchor(rows, row)
        assert anchor is not None
        ok = "met" if ratio is not None and ratio <= GOAL_RATIO else "NOT met"
        mine, theirs = statistics.median(row["added_p50"]), statistics.median(anchor["added_p50"])
        out.append(f"- {side}, p50 added at 1 connection ({row['mode']}): {mine:.0f} µs, "
                   f"HAProxy {theirs:.0f} µs: {_x(ratio)}, goal ≤ 2x: {ok}")  # fmt: skip
    for row in (r for r in rows if r["side"] == side):
        ratio, anchor = times_anchor(rows, row, "cpu_ms_per_1k"), _anchor(rows, row)
        assert anchor is not None
        ok = "met" if ratio is not None and ratio <= GOAL_RATIO else "NOT met"
        out.append(f"- {side}, CPU per 1,000 requests at {row['connections']} connections ({row['mode']}): "
                   f"{statistics.median(row['cpu_ms_per_1k']):.0f} ms, HAProxy "
                   f"{statistics.median(anchor['cpu_ms_per_1k']):.0f} ms: {_x(ratio)}, goal ≤ 2x: {ok}")  # fmt: skip
    return out


def scaling(rows: list[dict[str, Any]]) -> str:
    """Closed-loop requests/s of each `coserve-Nw` side against the one-worker coserve, per point."""
    lines = []
    for row in (r for r in rows if r["mode"] == "max" and r["side"].startswith("coserve-")):
        one = next((r for r in rows if (r["mode"], r["connections"], r["side"]) == ("max", row["connections"],
                    "coserve")), None)  # fmt: skip
        if one is not None:
            times = statistics.median(row["rps"]) / statistics.median(one["rps"])
            lines.append(f"- {row['side']} at {row['connections']} connections (max): "
                         f"{statistics.median(row['rps']):,.0f} requests/s, {times:.2f}x one worker's")  # fmt: skip
    return "\n".join(lines) + "\n" if lines else ""


def render(doc: dict[str, Any], md: Path, png: Path) -> str:
    rows = summarize(doc)
    header = ["mode", "conns", "side", "rps", "ratio to direct", "p50 µs", "added p50 µs", "p99 µs",
              "added p99 µs", "CPU ms / 1k req", "added p50 x HAProxy", "CPU x HAProxy", "errors"]  # fmt: skip
    body = [[r["mode"], r["connections"], r["side"], fmt_spread(r["rps"]), fmt_spread(r["ratio"], 2),
             fmt_spread(r["p50"]), "" if r["side"] == "direct" else fmt_spread(r["added_p50"]), fmt_spread(r["p99"]),
             "" if r["side"] == "direct" else fmt_spread(r["added_p99"]),
             "" if r["side"] == "direct" else fmt_spread(r["cpu_ms_per_1k"]),
             _x(times_anchor(rows, r, "added_p50")), _x(times_anchor(rows, r, "cpu_ms_per_1k")), r["errors"]]
            for r in rows]  # fmt: skip
    parts = [f"# Front-door overhead\n\n{provenance(doc)}\n", table(header, body) + "\n"]
    for side in dict.fromkeys(r["side"] for r in rows if r["side"] not in ("direct", ANCHOR, FLOOR)):
        parts.append("\n".join(verdicts(rows, side)) + "\n")
    parts.append(scaling(rows))
    idle = [c for r in rows if r["side"] == "direct" for c in r["idle_cores"]]
    parts.append(
        f"coserve's own CPU while idle (supervisor ticks, metrics): {statistics.median(idle) * 100:.1f}% of a core.\n"
    )
    parts.append(f"{FAIRNESS}\n")
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
        sorted({(r["mode"], r["side"]) for r in rows if r["side"] != "direct"}),
        itertools.cycle(["o-", "s--", "^-", "v--"]),
        strict=False,
    ):
        mine = [r for r in rows if r["mode"] == mode and r["side"] == side]
        xs = [r["connections"] for r in mine]
        axes[0].plot(xs, [statistics.median(r["added_p50"]) for r in mine], style, label=f"{side}, {mode}")
        axes[2].plot(xs, [statistics.median(r["cpu_ms_per_1k"]) for r in mine], style, label=f"{side}, {mode}")
        if mode == "max":
            axes[1].plot(xs, [statistics.median(r["rps"]) for r in mine], style, label=side)
    direct = [r for r in rows if r["mode"] == "max" and r["side"] == "direct"]
    axes[1].plot(
        [r["connections"] for r in direct], [statistics.median(r["rps"]) for r in direct], "k:", label="direct"
    )
    axes[0].set_yscale("log")
    titles = ["p50 added by the proxy (µs)", "throughput, closed loop (requests/s)", "proxy CPU ms per 1,000 requests"]
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
