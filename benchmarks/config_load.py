"""Reading a deployment file at the size cap (1 MiB): coserve's loader against PyYAML's pure-Python one.

coserve reads YAML with libyaml's parser (CSafeLoader) after one pass over the parser's events that
bounds nesting and alias expansion (runtime/config/yamlsafe.py); before, `yaml.safe_load` ran PyYAML's
pure-Python loader. Both read the same generated file, alternating, and the figures are the median and
spread of wall time per read. Writes benchmarks/results/config_load.json.

    .venv/bin/python benchmarks/config_load.py              # about 15 s on 2 cores
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: python benchmarks/config_load.py

import yaml  # noqa: E402

from benchmarks.common import document, fmt_spread, note_start, write_json  # noqa: E402
from runtime.config.load import MAX_FILE_BYTES, read_document  # noqa: E402


def big_deployment(target: int) -> str:
    """A valid deployment of 15 containers and as many Tags as fit in `target` bytes (sized from a sample)."""
    containers = [{"ContainerHostname": f"c{i}", "Image": "process"} for i in range(15)]
    doc: dict[str, Any] = {"EndpointName": "bench", "InferenceExecutionConfig": {"Mode": "Direct"},
                           "Containers": containers, "Tags": []}  # fmt: skip
    base = len(yaml.safe_dump(doc))
    sample = [{"Key": f"k{j:07d}", "Value": "v" * 64} for j in range(100)]
    per_tag = (len(yaml.safe_dump({**doc, "Tags": sample})) - base) / 100
    doc["Tags"] = [{"Key": f"k{j:07d}", "Value": "v" * 64} for j in range(int((target - base) * 0.98 / per_tag))]
    text = yaml.safe_dump(doc)
    assert len(text) <= target, len(text)
    return text


def timed(read: Callable[[], Any]) -> float:
    start = time.perf_counter()
    read()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    note_start()  # the load average before this run's own load, not when the report is written
    with tempfile.TemporaryDirectory(prefix="coserve-bench-") as tmp:
        path = Path(tmp) / "deploy.yaml"
        path.write_text(big_deployment(MAX_FILE_BYTES))
        sides: dict[str, Callable[[], Any]] = {
            "coserve": lambda: read_document(path),
            "pyyaml_pure": lambda: yaml.load(path.read_text(), Loader=yaml.SafeLoader),
        }
        runs: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(args.rounds):
            for name in sorted(sides, reverse=r % 2 == 1):  # alternate who goes first
                runs[name].append(timed(sides[name]))
        size = path.stat().st_size
    ratio = statistics.median(runs["coserve"]) / statistics.median(runs["pyyaml_pure"])
    results = {"file_bytes": size, "seconds": runs, "ratio_coserve_over_pure": round(ratio, 4)}
    config = {"rounds": args.rounds, "libyaml": bool(yaml.__with_libyaml__), "pyyaml": yaml.__version__}
    out = ROOT / "benchmarks" / "results" / "config_load.json"
    write_json(document("config_load", config, results), out)
    for name, values in runs.items():
        print(f"{name}: {fmt_spread(values, 3)} s per read of {size / 2**20:.2f} MiB")
    print(f"coserve / pure-Python PyYAML: {ratio:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
