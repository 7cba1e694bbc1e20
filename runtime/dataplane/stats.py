"""HAProxy's per-container counters folded into the front door's own metric families.

A request HAProxy relays never reaches Python's observer; HAProxy counts it on the container's server line
(`show stat`). Each fold adds what those counters gained since the last fold to the same counters Python's observer
increments: `Invocations` (every answer and every failed attempt), `Invocation4XXErrors` (4xx answers),
`Invocation5XXErrors` (5xx answers, and resets and timeouts, which HAProxy counts under `eresp`, and connection
failures, `econ`). An answer over MaxResponse, which HAProxy counted by its status, is moved to the 5XX errors as
Python counts it (the Lua action keeps those counts: `coserve too-large`). Latency histograms are not folded:
HAProxy keeps averages, not samples (README says so). A restarted HAProxy starts its counters at 0: the fold
starts again from there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from runtime.metrics.requests import RequestMetrics


@dataclass(frozen=True)
class Counts:
    answers: int = 0  # every status class, as HAProxy counts a server's answers
    errors_4xx: int = 0
    errors_5xx: int = 0
    failed: int = 0  # no answer: reset, timeout, connection failure

    def minus(self, other: Counts) -> Counts:
        return Counts(self.answers - other.answers, self.errors_4xx - other.errors_4xx,
                      self.errors_5xx - other.errors_5xx, self.failed - other.failed)  # fmt: skip


def parse(csv_text: str, backends: dict[str, str], too_large: str = "") -> dict[str, Counts]:
    """`show stat` CSV -> counts per hostname; `backends` maps a backend name to its container's hostname."""
    rows = csv.DictReader(io.StringIO(csv_text.lstrip("# ")))
    found: dict[str, Counts] = {}
    for row in rows:
        host = backends.get(row.get("pxname", ""))
        if host is None or row.get("svname") != row.get("pxname"):  # the server line, named as its backend
            continue
        n = {k: int(row.get(k) or 0) for k in ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx",
                                               "hrsp_other", "eresp", "econ")}  # fmt: skip
        answers = sum(v for k, v in n.items() if k.startswith("hrsp_"))
        found[host] = Counts(answers, n["hrsp_4xx"], n["hrsp_5xx"] + n["hrsp_other"], n["eresp"] + n["econ"])
    for line in too_large.splitlines():  # `<hostname> <1-3xx> <4xx>`
        words = line.split()
        if len(words) != 3 or not words[1].isdigit() or not words[2].isdigit():
            continue  # the runtime API's prompt or blank lines
        host, ok, client = words
        if host in found:
            c = found[host]
            moved = int(ok) + int(client)
            found[host] = Counts(c.answers, c.errors_4xx - int(client), c.errors_5xx + moved, c.failed)
    return found


class Fold:
    """Adds HAProxy's gains to RequestMetrics; `reset()` after HAProxy restarted (its counters start at 0)."""

    def __init__(self, metrics: RequestMetrics, backends: dict[str, str]) -> None:
        self.metrics = metrics
        self.backends = backends
        self.seen: dict[str, Counts] = {}

    def reset(self) -> None:
        self.seen = {}

    def add(self, csv_text: str, too_large: str = "") -> None:
        for host, now in parse(csv_text, self.backends, too_large).items():
            gain = now.minus(self.seen.get(host, Counts()))
            self.seen[host] = now
            if gain.answers < 0 or gain.failed < 0:  # counters went back: HAProxy restarted unseen
                gain = now
            children = self.metrics.of(host)
            if gain.answers + gain.failed:
                children.invocations.inc(gain.answers + gain.failed)
            if gain.errors_4xx > 0:
                children.errors_4xx.inc(gain.errors_4xx)
            if gain.errors_5xx + gain.failed > 0:
                children.errors_5xx.inc(gain.errors_5xx + gain.failed)
