"""Where the advisor's figures come from: a file listing SageMaker endpoints, or a running coserve's /metrics.

The file (YAML or JSON), one entry per endpoint (each problem is reported, naming the entry and field):

    Endpoints:
      - EndpointName: churn
        InstanceType: ml.c5.large      # where it runs today; optional (then: the cheapest that holds it)
        InstanceCount: 1               # optional, default 1
        PeakCpu: 0.4                   # cores; or CpuUtilization: 40 (CloudWatch's percent, 100 per core)
        PeakMemory: 600MiB             # or MemoryUtilization: 15 (percent of InstanceType's memory)
        RequestsPerSecond: 2           # optional
        P99Latency: 35ms               # optional, with P99Budget: 100ms (a bare number is seconds)
        Gpu: false                     # optional; an accelerated InstanceType implies it
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runtime.cli.plan.catalog import Catalog
from runtime.cli.plan.model import Workload
from runtime.units import parse_duration, parse_size

KEYS = {"EndpointName", "InstanceType", "InstanceCount", "PeakCpu", "CpuUtilization", "PeakMemory",
        "MemoryUtilization", "RequestsPerSecond", "P99Latency", "P99Budget", "Gpu"}  # fmt: skip


class PlanInputError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_endpoints(path: Path, catalog: Catalog) -> list[Workload]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlanInputError([f"{path}: {exc}"]) from None
    entries = doc.get("Endpoints") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise PlanInputError([f"{path}: expected a mapping with an Endpoints list"])
    problems: list[str] = []
    out = [_workload(f"Endpoints[{n}]", e, catalog, problems) for n, e in enumerate(entries)]
    names = [w.name for w in out if w is not None]
    problems += [
        f"Endpoints: EndpointName {n!r} appears more than once" for n in sorted(set(names)) if names.count(n) > 1
    ]
    if problems:
        raise PlanInputError(problems)
    return [w for w in out if w is not None]


def _workload(at: str, e: Any, catalog: Catalog, problems: list[str]) -> Workload | None:
    if not isinstance(e, dict):
        problems.append(f"{at}: expected a mapping (got {e!r})")
        return None
    before = len(problems)
    problems += [f"{at}.{k}: unknown key (expected one of {', '.join(sorted(KEYS))})" for k in sorted(set(e) - KEYS)]
    name, itype = e.get("EndpointName"), e.get("InstanceType")
    if not isinstance(name, str) or not name:
        problems.append(f"{at}.EndpointName: required, a non-empty string (got {name!r})")
    if itype is not None and not isinstance(itype, str):
        problems.append(f"{at}.InstanceType: must be a string (got {itype!r})")
        itype = None
    memory = _memory(at, e, catalog, itype, problems)
    cpus = _number(at, e, "PeakCpu", problems)
    if cpus is None and "CpuUtilization" in e:
        percent = _number(at, e, "CpuUtilization", problems)
        cpus = None if percent is None else percent / 100.0
    if "PeakCpu" not in e and "CpuUtilization" not in e:
        problems.append(f"{at}: needs PeakCpu (cores) or CpuUtilization (percent, 100 per core)")
    count = e.get("InstanceCount", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        problems.append(f"{at}.InstanceCount: must be a whole number >= 1 (got {count!r})")
    p99, budget = _ms(at, e, "P99Latency", problems), _ms(at, e, "P99Budget", problems)
    rps = _number(at, e, "RequestsPerSecond", problems)
    gpu = e.get("Gpu", False)
    if not isinstance(gpu, bool):
        problems.append(f"{at}.Gpu: must be true or false (got {gpu!r})")
    if len(problems) > before or memory is None or cpus is None:
        return None
    return Workload(str(name), memory, cpus, rps, p99, budget, itype, int(count), bool(gpu))


def _memory(at: str, e: dict[str, Any], catalog: Catalog, itype: str | None, problems: list[str]) -> int | None:
    if "PeakMemory" in e:
        try:
            return parse_size(e["PeakMemory"])
        except ValueError:
            problems.append(f"{at}.PeakMemory: a size such as 600MiB or 2GiB (got {e['PeakMemory']!r})")
            return None
    percent = _number(at, e, "MemoryUtilization", problems)
    if percent is None:
        problems.append(f"{at}: needs PeakMemory (a size) or MemoryUtilization (percent of InstanceType's memory)")
        return None
    instance = catalog.get(itype) if itype else None
    if instance is None:
        problems.append(f"{at}.MemoryUtilization: needs an InstanceType from the price table (got {itype!r})")
        return None
    return int(instance.memory_bytes * percent / 100.0)


def _number(at: str, e: dict[str, Any], key: str, problems: list[str]) -> float | None:
    value = e.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(f"{at}.{key}: must be a number >= 0 (got {value!r})")
        return None
    return float(value)


def _ms(at: str, e: dict[str, Any], key: str, problems: list[str]) -> float | None:
    if e.get(key) is None:
        return None
    try:
        return parse_duration(e[key]) * 1000.0
    except ValueError:
        problems.append(f"{at}.{key}: a duration such as 35ms or 0.1s (got {e[key]!r})")
        return None
