"""HAProxy's per-container counters folded into the front door's own metric families.

A request HAProxy relays never reaches Python's observer; HAProxy counts it on the container's server line
(`show stat`). Each fold adds what those counters gained since the last fold to the same counters Python's observer
increments, with Python's meaning:
- `Invocations`: requests sent to the container and finished (`stot` less `scur`, those under way; HAProxy sends
  each request once: `retries 0`);
- `Invocation4XXErrors`: 4xx answers;
- `Invocation5XXErrors`: every finished request without a 1-4xx answer (5xx answers, resets, timeouts, closes),
  and answers over MaxResponse, which HAProxy counted under their own status (the Lua action lists them);
- the variant's `Invocations` and `Invocation5XXErrors`: requests refused at MaxInFlight (the Lua action counts them).
A body that misses BodyTimeout is not counted: Python's router counts it under the variant as a 4XX (it sees a
client gone before its body), HAProxy answers it before any counter of a container (README says so).
Latency histograms are not folded: HAProxy keeps averages, not samples (README says so). Each figure only grows:
a restarted HAProxy counts from 0 again, and the fold from there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from runtime.metrics.requests import VARIANT, RequestMetrics

Figures = dict[tuple[str, str], int]  # (hostname, figure) -> total since HAProxy started


def parse(stat_csv: str, counts: str, backends: dict[str, str]) -> Figures:
    """`show stat` CSV and `coserve counts` -> figures; `backends` maps a backend name to its container."""
    found: Figures = {}
    for row in csv.DictReader(io.StringIO(stat_csv.lstrip("# "))):
        host = backends.get(row.get("pxname", ""))
        if host is None or row.get("svname") != row.get("pxname"):  # the server line, named as its backend
            continue
        n = {k: int(row.get(k) or 0) for k in ("stot", "scur", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx")}
        done = n["stot"] - n["scur"]
        found[host, "invocations"] = done
        found[host, "4xx"] = n["hrsp_4xx"]
        found[host, "5xx"] = done - n["hrsp_1xx"] - n["hrsp_2xx"] - n["hrsp_3xx"] - n["hrsp_4xx"]
    for kind, host, *values in _lines(counts):
        if kind == "too-large" and (host, "4xx") in found:  # values: 1-3xx answers, 4xx answers
            found[host, "4xx"] -= values[1]
            found[host, "5xx"] += values[0] + values[1]
        elif kind == "busy":
            found[host, "busy"] = values[0]
    return found


def _lines(text: str) -> Iterator[tuple[str, str, *tuple[int, ...]]]:
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and all(w.isdigit() for w in words[2:]):  # not the runtime API's prompt or blank lines
            yield (words[0], words[1], *(int(w) for w in words[2:]))


class Fold:
    """Adds HAProxy's gains to RequestMetrics; `reset()` after HAProxy restarted (its counters start at 0)."""

    def __init__(self, metrics: RequestMetrics, backends: dict[str, str]) -> None:
        self.metrics = metrics
        self.backends = backends
        self.seen: Figures = {}

    def reset(self) -> None:
        self.seen = {}

    def add(self, stat_csv: str, counts: str = "") -> None:
        for (host, figure), total in parse(stat_csv, counts, self.backends).items():
            gain = total - self.seen.get((host, figure), 0)
            if gain <= 0:  # nothing new, or a figure read mid-update: it is added once it is whole
                continue
            self.seen[host, figure] = total
            if figure == "busy":
                variant = self.metrics.of(VARIANT)
                variant.invocations.inc(gain)
                variant.errors_5xx.inc(gain)
                continue
            children = self.metrics.of(host)
            {"invocations": children.invocations, "4xx": children.errors_4xx, "5xx": children.errors_5xx}[figure].inc(
                gain
            )
