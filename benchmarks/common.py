"""What every benchmark records and writes: the machine, the commit, JSON, a Markdown report and a PNG chart."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


_started: dict[str, list[float]] = {}  # the load average when the benchmark began (note_start), if noted


def note_start() -> None:
    """Record the load average now, before the benchmark's own load: machine() reports it as at start."""
    _started["loadavg"] = [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "mem_gib": round(mem_kb / 2**20, 1),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        # others share this machine: say how busy (at the end too when the start was noted)
        "loadavg_at_start": _started.get("loadavg", [round(x, 2) for x in os.getloadavg()]),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> str:
    run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    head = run.stdout.strip() if run.returncode == 0 else "no-commit"
    return head + ("+dirty" if dirty.stdout.strip() else "")


def document(name: str, config: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": name,
        "commit": git_commit(),
        "machine": machine(),
        "config": config,
        "results": results,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([".venv/bin/python", *(_relative(a) for a in sys.argv)]),
    }


def _relative(arg: str) -> str:
    path = Path(arg)
    return str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else arg


def finish(name: str, config: dict[str, Any], results: dict[str, Any], out: Path,
           render: Callable[[dict[str, Any], Path, Path], str]) -> int:  # fmt: skip
    """Write the JSON, then the Markdown report and its PNG chart beside it; print the report."""
    doc = document(name, config, results)
    write_json(doc, out)
    print(render(doc, out.with_suffix(".md"), out.with_suffix(".png")))
    print(f"wrote {out} and its .md/.png")
    return 0


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def median_spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max): the spread is the honest error bar on a shared machine."""
    return statistics.median(values), min(values), max(values)


def fmt_spread(values: Sequence[float], digits: int = 0) -> str:
    mid, lo, hi = median_spread(values)
    if len(values) == 1:
        return f"{mid:,.{digits}f}"
    return f"{mid:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return (
        f"Measured {doc['when']} at commit `{doc['commit'][:12]}` on {m['nproc']} x {m['cpu']}, "
        f"{m['mem_gib']} GiB, Linux {m['kernel']}, Python {m['python']} (load average at start "
        f"{m['loadavg_at_start'][0]}{_end(m)}). Reproduce: `{doc['command']}`."
    )


def _end(m: dict[str, Any]) -> str:
    return f", at the end {m['loadavg_at_end'][0]}" if "loadavg_at_end" in m else ""


def pyplot() -> Any:
    """matplotlib's pyplot without a display, or None when matplotlib is not installed (no chart then)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no PNG chart", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
