"""The consolidation benchmark's PNG: p99 ratio B/A per model with its interval, per B variant, and the cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import pyplot
from benchmarks.consolidation_stats import SLO


def chart(by: dict[str, list[dict[str, Any]]], c: dict[str, float], png: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    fig, (ax, cost) = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [3, 1]})
    names = list(by)
    rows0 = by[names[0]]
    x = np.arange(len(rows0))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ratios = [r["ratio"] for r in by[name]]
        mid = np.array([r.ratio for r in ratios])
        err = np.array([[r.ratio - r.low for r in ratios], [r.high - r.ratio for r in ratios]])
        ax.errorbar(x + (i - (len(names) - 1) / 2) * width, mid, yerr=np.clip(err, 0, None), fmt="o", ms=4,
                    capsize=2, label=f"B {name}")  # fmt: skip
    ax.axhline(SLO, color="red", lw=1, ls="--", label=f"SLO {SLO:.2f}")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, [r["hostname"] for r in rows0], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("p99 B / p99 A (95% bootstrap CI)")
    ax.set_title("p99 ratio per model: consolidated (B) vs one endpoint each (A)", fontsize=10)
    ax.legend(fontsize=7)
    cost.bar(["SM A", "SM B", "EC2 A", "EC2 B"], [c["sm_a"], c["sm_b"], c["ec2_a"], c["ec2_b"]],
             color=["tab:blue", "tab:orange", "tab:blue", "tab:orange"])  # fmt: skip
    cost.set_title("$ per month", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return True
