"""The consolidation benchmark's latency statistics: p99 ratio B/A with a bootstrap interval, the verdict, the why.

A p99 from a few hundred requests moves a lot from run to run, so the ratio of two of them is stated with a
percentile bootstrap confidence interval: each side's latencies are resampled with replacement (independently:
A and B are separate runs), the p99 of each resample taken, and the ratio's 2.5th and 97.5th percentiles over
the resamples bound it. A model keeps its latency only when the interval's upper bound is within the SLO
(1.10), from at least MIN_REQUESTS latencies a side: a model whose point ratio is fine but whose interval is
wide, or whose p99 rests on fewer requests (then the sample's largest latency, whose resamples hardly vary),
has not shown it, and is reported so.
Where a model fails, `causes` says why from the figures the run has (CPU throttling, time outside the
container, the container's own slowdown, memory and OOM kills).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SLO = 1.10  # B's p99 may be at most 10% above A's, model by model (upper bound of the interval)
RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_REQUESTS = 100  # per side: below it the p99 is the largest latency itself, and its bootstrap is degenerate
CHUNK = 250  # resamples drawn at once: bounds memory for long runs (CHUNK x n floats)


@dataclass(frozen=True)
class Ratio:
    """p99(B) / p99(A) and its bootstrap interval."""

    ratio: float
    low: float
    high: float
    n_a: int
    n_b: int


def p99(values: Sequence[float] | np.ndarray) -> float:
    return float(np.percentile(values, 99)) if len(values) else float("nan")


def _resampled_p99(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        out[start : start + n] = np.percentile(x[rng.integers(0, len(x), (n, len(x)))], 99, axis=1)
    return out


def p99_ratio(a: Sequence[float], b: Sequence[float], resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
              seed: int = 0) -> Ratio:  # fmt: skip
    """The ratio and its percentile bootstrap interval; NaNs where either side has no latencies."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(xa) or not len(xb):
        return Ratio(float("nan"), float("nan"), float("nan"), len(xa), len(xb))
    rng = np.random.default_rng(seed)
    ratios = _resampled_p99(xb, resamples, rng) / _resampled_p99(xa, resamples, rng)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Ratio(p99(xb) / p99(xa), float(low), float(high), len(xa), len(xb))


def passes(r: Ratio, errors_a: int = 0, errors_b: int = 0, slo: float = SLO) -> bool:
    """Kept its latency: enough requests, the interval's upper bound within the SLO, no more errors than alone."""
    return bool(r.high <= slo) and min(r.n_a, r.n_b) >= MIN_REQUESTS and errors_b <= errors_a


def shortfall(r: Ratio, errors_a: int = 0, errors_b: int = 0, slo: float = SLO) -> str:
    """By how much a failing model misses, in words ('' when it passes)."""
    if passes(r, errors_a, errors_b, slo):
        return ""
    if r.high != r.high:  # NaN: a side without a single answered request
        return f"no latencies to compare ({r.n_a} in A, {r.n_b} in B)"
    parts = []
    if min(r.n_a, r.n_b) < MIN_REQUESTS:
        parts.append(f"too few requests for a p99 ({r.n_a} in A, {r.n_b} in B; at least {MIN_REQUESTS} a side), "
                     f"p99 ratio {r.ratio:.2f} (95% CI {r.low:.2f}-{r.high:.2f})")  # fmt: skip
    elif not r.high <= slo:
        over = (
            f"p99 ratio {r.ratio:.2f} (95% CI {r.low:.2f}-{r.high:.2f}): upper bound {r.high - slo:+.2f} over {slo:.2f}"
        )
        if r.ratio <= slo:
            over += f", the point ratio is within it but the interval is too wide ({r.n_a}/{r.n_b} requests)"
        parts.append(over)
    if errors_b > errors_a:
        parts.append(f"{errors_b} errors in B against {errors_a} alone")
    return "; ".join(parts)


@dataclass(frozen=True)
class Figures:
    """What the run measured of one model in A and B (means over the load; None where not measured)."""

    throttled_b: int  # CFS periods its own cgroup was throttled in B (its quota)
    instance_throttled_a: int  # periods the whole instance cgroup was throttled (its vCPUs), in A
    instance_throttled_b: int
    mean_ms_a: float | None  # mean latency seen by the client
    mean_ms_b: float | None
    container_ms_a: float | None  # mean time the container took to answer (coserve's ContainerLatency)
    container_ms_b: float | None
    peak_memory_b: int
    memory_limit_b: int | None
    oom_kills_b: int


def causes(f: Figures) -> list[str]:
    """Why a model's p99 rose, from the figures: each cause with its measure, largest evidence first."""
    out: list[str] = []
    if f.throttled_b:
        out.append(f"CPU quota: its cgroup was throttled in {f.throttled_b} periods (nr_throttled)")
    if f.instance_throttled_b > f.instance_throttled_a:
        out.append(f"instance CPU: the instance cgroup was throttled in {f.instance_throttled_b} periods "
                   f"(A: {f.instance_throttled_a})")  # fmt: skip
    if None not in (f.container_ms_a, f.container_ms_b) and f.container_ms_b > 1.1 * f.container_ms_a:  # type: ignore[operator]
        out.append(f"contention in the container: its mean service time went {f.container_ms_a:.1f} -> "
                   f"{f.container_ms_b:.1f} ms (CPU shared with the other models)")  # fmt: skip
    if None not in (f.mean_ms_b, f.container_ms_b, f.mean_ms_a, f.container_ms_a):
        wait_a = f.mean_ms_a - f.container_ms_a  # type: ignore[operator]
        wait_b = f.mean_ms_b - f.container_ms_b  # type: ignore[operator]
        if wait_b > wait_a + 1.0:
            out.append(f"queueing outside the container (latency minus service time): {wait_a:.1f} -> "
                       f"{wait_b:.1f} ms mean")  # fmt: skip
    if f.oom_kills_b:
        out.append(f"memory: {f.oom_kills_b} OOM kills in B")
    elif f.memory_limit_b and f.peak_memory_b > 0.9 * f.memory_limit_b:
        out.append(f"memory: peak {f.peak_memory_b / 2**20:.0f} MiB within 10% of its {f.memory_limit_b / 2**20:.0f} "
                   "MiB limit")  # fmt: skip
    return out or ["none of throttling, queueing, service time or memory stands out: run-to-run noise or too few "
                   "requests for a stable p99"]  # fmt: skip
