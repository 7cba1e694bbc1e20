"""The advisor's figures from the consolidation benchmark's JSON (benchmarks/results/consolidation*.json).

Scenario A ran each model alone, so its figures are what each model needs on its own: per model the
highest peak memory and CPU over the rounds, its configured request rate, and its p99 over every round's
latencies. `coserve plan --benchmark FILE` packs them as it would a running host's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from runtime.cli.plan.inputs import PlanInputError
from runtime.cli.plan.model import Workload


def workloads_from_benchmark(path: Path) -> list[Workload]:
    try:
        doc = json.loads(path.read_text())
        rounds = [r["A"]["containers"] for r in doc["results"]["rounds"] if r.get("A")]
        models = doc["config"]["models"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanInputError([f"{path}: not a consolidation benchmark result with scenario A ({exc!r})"]) from None
    if not rounds:
        raise PlanInputError([f"{path}: no round of scenario A"])
    return [_workload(m, [r[m["hostname"]] for r in rounds if m["hostname"] in r]) for m in models]


def _workload(model: dict[str, Any], runs: list[dict[str, Any]]) -> Workload:
    latencies = sorted(x for run in runs for x in run.get("latencies_ms", []))
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)] if latencies else None
    return Workload(
        name=str(model["hostname"]),
        memory_bytes=max((int(run["peak_memory_bytes"]) for run in runs), default=0),
        cpus=max((float(run["cpu_cores"]) for run in runs), default=0.0),
        rps=float(model.get("rate") or 0.0),
        p99_ms=p99,
    )
