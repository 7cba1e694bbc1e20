"""Why a model's slowest requests were slow, measured request by request rather than from run means.

While the load runs, `benchmarks.cpu_timeline` samples every container's CPU time, the instance's, its CFS
throttling and the host's CPU pressure. `context` gives each answered request its window's share of them:
its own container's CPU, the other containers' (neighbours), the front door's (the instance less its
containers: coserve's router and supervisor), the time some task waited for a CPU (PSI "some"), throttled
periods, and how many requests (its own model's, and the others') were in flight when it arrived.

`attribute` then splits a model's B requests at A's p99 (the requests that push B's p99 over A's) and compares
that tail with the rest, cause by cause, with the figures in the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.cpu_timeline import Timeline

FIELDS = ("own_cpu_ms", "neighbour_cpu_ms", "front_cpu_ms", "stall_ms", "throttled", "own_in_flight",
          "others_in_flight")  # fmt: skip
FRONT = "front door"  # the instance's CPU less its containers': coserve's router and supervisor


def _in_flight(starts: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """For each start, how many of `spans` (arrival, answer) had arrived before it and not yet been answered."""
    if not len(spans):
        return np.zeros(len(starts), dtype=int)
    arrived = np.searchsorted(np.sort(spans[:, 0]), starts, side="left")
    answered = np.searchsorted(np.sort(spans[:, 1]), starts, side="right")
    return np.asarray(arrived - answered, dtype=int)


def context(spans: dict[str, list[tuple[float, float]]], timeline: Timeline) -> dict[str, dict[str, list[Any]]]:
    """Per container, per answered request (in the order of its latencies): the FIELDS of its window, and the
    neighbour (another container, or the front door) that ran most CPU in it (`top`, `top_ms`)."""
    arrays = {h: np.asarray(s, dtype=float).reshape(-1, 2) for h, s in spans.items()}
    out: dict[str, dict[str, list[Any]]] = {}
    for h, sp in arrays.items():
        start, end = sp[:, 0], sp[:, 1]
        cpu = {o: timeline.delta(f"c:{o}", start, end) * 1000 for o in arrays}
        every = sum(cpu.values(), np.zeros(len(sp)))
        cpu[FRONT] = np.maximum(timeline.delta("instance", start, end) * 1000 - every, 0.0)
        others = np.concatenate([arrays[o] for o in arrays if o != h] or [np.empty((0, 2))])
        fields = {
            "own_cpu_ms": cpu[h],
            "neighbour_cpu_ms": every - cpu[h],
            "front_cpu_ms": cpu[FRONT],
            "stall_ms": timeline.delta("pressure", start, end) * 1000,
            "throttled": timeline.delta("throttled", start, end),
            "own_in_flight": _in_flight(start, sp),  # arrivals strictly before its own: itself is not counted
            "others_in_flight": _in_flight(start, others),
        }
        out[h] = {k: [round(float(x), 3) for x in v] for k, v in fields.items()}
        names = [o for o in cpu if o != h]
        if names:
            matrix = np.stack([cpu[o] for o in names], axis=1)
            out[h]["top"] = [names[i] for i in matrix.argmax(axis=1)]
            out[h]["top_ms"] = [round(float(x), 3) for x in matrix.max(axis=1)]
    return out


def busiest(ctx: dict[str, list[Any]], slow: np.ndarray) -> list[tuple[str, int]]:
    """Among the slow requests: which neighbour ran most CPU in each, counted (most often first)."""
    tops = [n for n, s in zip(ctx.get("top", []), slow, strict=True) if s]
    return sorted(((n, tops.count(n)) for n in set(tops)), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class Side:
    """Means over a set of requests: shares of their windows, and per-request figures."""

    n: int
    stall: float  # share of the window in which some task waited for a CPU (host-wide PSI)
    busy: float  # share of the instance's vCPUs in use over the window
    neighbour_cores: float
    front_cores: float
    own_cpu_ms: float
    own_queued: float  # share that arrived while an earlier request of the same model was in flight
    throttled: float  # share whose window saw the instance throttled

    @classmethod
    def of(cls, ctx: dict[str, np.ndarray], wall_ms: np.ndarray, vcpus: float) -> Side:
        if not len(wall_ms):
            return cls(0, *([float("nan")] * 7))
        wall = np.maximum(wall_ms, 1e-3)
        cpu = ctx["own_cpu_ms"] + ctx["neighbour_cpu_ms"] + ctx["front_cpu_ms"]
        return cls(
            n=len(wall_ms), stall=float(np.mean(ctx["stall_ms"] / wall)), busy=float(np.mean(cpu / wall / vcpus)),
            neighbour_cores=float(np.mean(ctx["neighbour_cpu_ms"] / wall)),
            front_cores=float(np.mean(ctx["front_cpu_ms"] / wall)), own_cpu_ms=float(np.mean(ctx["own_cpu_ms"])),
            own_queued=float(np.mean(ctx["own_in_flight"] >= 1)), throttled=float(np.mean(ctx["throttled"] > 0.5)),
        )  # fmt: skip


@dataclass(frozen=True)
class Tail:
    threshold_ms: float  # A's p99
    tail: Side  # B's requests above it
    rest: Side  # B's others
    causes: list[str]
    label: str  # the short cause, for the table


def attribute(latencies_b: list[float], ctx: dict[str, list[Any]], a_p99: float, vcpus: float) -> Tail:
    """Compare B's requests above A's p99 with the rest; name each cause the figures show, with them."""
    lat = np.asarray(latencies_b, dtype=float)
    cols = {k: np.asarray(ctx[k], dtype=float) for k in FIELDS}
    slow = lat > a_p99
    t = Side.of({k: v[slow] for k, v in cols.items()}, lat[slow], vcpus)
    r = Side.of({k: v[~slow] for k, v in cols.items()}, lat[~slow], vcpus)
    if not t.n:
        return Tail(a_p99, t, r, [f"none of its {r.n} requests in B took longer than A's p99 ({a_p99:.1f} ms)"], "-")
    head = f"its {t.n} of {t.n + r.n} requests in B above A's p99 ({a_p99:.1f} ms)"
    causes, labels = [], []
    if t.stall == t.stall and t.stall >= 0.2 and t.stall >= max(2 * r.stall, r.stall + 0.1):
        who = ", ".join(f"{n} in {k}" for n, k in busiest(ctx, slow)[:3])
        causes.append(
            f"CPU contention: during {head} some task waited for a CPU {t.stall:.0%} of the time (host PSI) against "
            f"{r.stall:.0%} during its other requests; the instance's vCPUs were {t.busy:.0%} busy ({r.busy:.0%}), "
            f"neighbours ran {t.neighbour_cores:.2f} cores ({r.neighbour_cores:.2f}) and the front door "
            f"{t.front_cores:.2f} ({r.front_cores:.2f})" + (f"; the busiest neighbour: {who} of them" if who else "")
        )
        labels.append("CPU contention")
    if t.own_cpu_ms >= max(1.5 * r.own_cpu_ms, r.own_cpu_ms + 2.0):
        causes.append(f"more work in its own container: {head} used {t.own_cpu_ms:.1f} ms of its CPU each "
                      f"against {r.own_cpu_ms:.1f} ms for the others (garbage collection, compilation or a slower "
                      "path)")  # fmt: skip
        labels.append("own work")
    if t.own_queued >= 0.5 and t.own_queued >= 2 * r.own_queued:
        causes.append(f"queueing behind its own requests: {t.own_queued:.0%} of {head} arrived while an earlier one "
                      f"was in flight ({r.own_queued:.0%} of the others)")  # fmt: skip
        labels.append("own queue")
    if t.throttled > 0 and t.throttled > r.throttled:
        causes.append(f"CPU quota: the instance was throttled during {t.throttled:.0%} of {head} "
                      f"({r.throttled:.0%} of the others)")  # fmt: skip
        labels.append("quota")
    if not causes:
        causes.append(
            f"nothing measured sets {head} apart: CPU waiting {t.stall:.0%} against {r.stall:.0%}, vCPUs busy "
            f"{t.busy:.0%} ({r.busy:.0%}), neighbours {t.neighbour_cores:.2f} cores ({r.neighbour_cores:.2f}), own CPU "
            f"{t.own_cpu_ms:.1f} ms ({r.own_cpu_ms:.1f}): the slow ones are the model's own spread (a wake-up, a "
            "scheduling delay no counter here sees), not its neighbours"
        )
        labels.append("none measured")
    return Tail(a_p99, t, r, causes, ", ".join(labels))


def pooled(cs: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
    """The contexts of one model's runs, concatenated in the order its latencies are pooled (None if any lacks
    one: a result from before the timeline was recorded)."""
    if not cs or any("context" not in c for c in cs):
        return None
    return {k: [x for c in cs for x in c["context"].get(k, [])] for k in (*FIELDS, "top", "top_ms")}
