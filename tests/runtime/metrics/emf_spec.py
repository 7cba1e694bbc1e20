"""A validator for CloudWatch Embedded Metric Format documents, written from the specification's
"Specification: Embedded metric format" page (root node, metadata, MetricDirective, DimensionSet,
MetricDefinition), so the lines coserve writes are checked against the spec, not against themselves."""

from __future__ import annotations

import json
from typing import Any

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def problems(line: str) -> list[str]:
    """Every way `line` breaks the specification; empty when it is a valid EMF document."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(doc, dict):
        return ["the root node must be an object"]
    aws = doc.get("_aws")
    if not isinstance(aws, dict):
        return ["_aws must be an object"]
    out: list[str] = []
    ts = aws.get("Timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 10**12:
        out.append(f"_aws.Timestamp must be epoch milliseconds, got {ts!r}")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        return [*out, "_aws.CloudWatchMetrics must be an array"]
    for i, d in enumerate(directives):
        out.extend(f"CloudWatchMetrics[{i}]: {p}" for p in _directive(d, doc))
    return out


def _directive(d: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(d, dict):
        return ["a MetricDirective must be an object"]
    out: list[str] = []
    ns = d.get("Namespace")
    if not isinstance(ns, str) or not 1 <= len(ns) <= 255 or not ns.strip():
        out.append(f"Namespace must be a non-empty string of at most 255 characters, got {ns!r}")
    dims = d.get("Dimensions")
    if not isinstance(dims, list):
        out.append("Dimensions must be an array of DimensionSets")
    else:
        for dset in dims:
            if not isinstance(dset, list) or len(dset) > 30:
                out.append(f"a DimensionSet must be an array of at most 30 names: {dset!r}")
                continue
            for name in dset:
                if not isinstance(name, str) or not isinstance(root.get(name), str):
                    out.append(f"dimension {name!r} must be a root member with a string value")
    metrics = d.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > 100:
        return [*out, "Metrics must be an array of at most 100 MetricDefinitions"]
    for m in metrics:
        name = m.get("Name") if isinstance(m, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 1024:
            out.append(f"a MetricDefinition needs a Name: {m!r}")
            continue
        if "Unit" in m and m["Unit"] not in UNITS:
            out.append(f"{name}: unit {m['Unit']!r} is not a CloudWatch unit")
        if m.get("StorageResolution", 60) not in (1, 60):
            out.append(f"{name}: StorageResolution must be 1 or 60")
        value = root.get(name)
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > 100 or not all(_is_number(v) for v in values):
            out.append(f"metric {name} must be a root member holding a number or up to 100 numbers, got {value!r}")
    return out
