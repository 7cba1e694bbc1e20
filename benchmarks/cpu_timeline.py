"""A CPU timeline of a run: cumulative counters sampled every few milliseconds, in a process of its own.

The consolidation benchmark asks why a model's slowest requests were slow. A mean over the run cannot say: the
tail is a handful of requests. So while the load runs, this samples (every 5 ms by default) each container's
CPU time (cgroup v1 `cpuacct.usage`, v2 `cpu.stat usage_usec`), the instance cgroup's CPU time and its
`nr_throttled`, and the host's CPU pressure (`/proc/pressure/cpu`, "some" total: time in which at least one
runnable task waited for a CPU). Afterwards any request's window [arrival, answer] can be given its share of
each counter by interpolating the cumulative readings at both ends (`Timeline.delta`).

It runs as a separate process (`python -m benchmarks.cpu_timeline OUT INTERVAL FILE[:KEY] ...`), so its reading
does not hold the load generator's interpreter; both use CLOCK_MONOTONIC (`time.perf_counter`), so their times
compare. It stops on SIGTERM and leaves OUT as float64 rows: the time, then one value per column.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PRESSURE = Path("/proc/pressure/cpu")
INTERVAL_S = 0.005


def _value(fd: int, key: bytes | None) -> float:
    """One counter from an open file: the whole text as a number, or the number after `key` (`key N` lines, or
    PSI's `some avg10=.. total=N`)."""
    text = os.pread(fd, 4096, 0)
    if key is None:
        return float(text.split()[0])
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == key:
            return float(words[-1].split(b"=")[-1])
    return float("nan")


def sources(instance_cpu: Path, containers: dict[str, Path], throttle: Path | None) -> dict[str, str]:
    """NAME -> `FILE` or `FILE:KEY` for the sampler: `instance`, each container, `throttled`, `pressure`.
    `instance_cpu` and the containers' paths are cgroup directories (v1 cpuacct, or v2)."""

    def cpu(d: Path) -> str:
        return f"{d / 'cpuacct.usage'}" if (d / "cpuacct.usage").exists() else f"{d / 'cpu.stat'}:usage_usec"

    out = {"instance": cpu(instance_cpu), **{f"c:{h}": cpu(d) for h, d in containers.items()}}
    if throttle is not None and (throttle / "cpu.stat").exists():
        out["throttled"] = f"{throttle / 'cpu.stat'}:nr_throttled"
    if PRESSURE.exists():
        out["pressure"] = f"{PRESSURE}:some"
    return out


def sample(out: Path, interval: float, columns: list[str]) -> None:
    """Read every column each `interval` until SIGTERM, then write the rows to `out` as float64 (through a
    temporary name, so a reader never sees half a file)."""
    files = []
    for spec in columns:
        path, _, key = spec.partition(":")
        files.append((os.open(path, os.O_RDONLY), key.encode() or None))
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    rows = []
    next_due = time.perf_counter()
    while not stop:
        rows.append([time.perf_counter(), *(_value(fd, key) for fd, key in files)])
        if len(rows) == 1:
            print("sampling", flush=True)  # the parent starts its load after this line
        next_due += interval
        time.sleep(max(0.0, next_due - time.perf_counter()))  # pacing the samples, not synchronisation
    tmp = out.with_suffix(".part")
    np.asarray(rows, dtype=np.float64).tofile(tmp)
    tmp.replace(out)


@dataclass
class Timeline:
    """The sampled counters: `t` (seconds, perf_counter) and one cumulative array per column."""

    t: np.ndarray
    columns: dict[str, np.ndarray]
    scale: dict[str, float]  # multiplies a column's delta into seconds (CPU, stall) or a count (throttled)

    def delta(self, name: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Each window's share of a counter, interpolated linearly between samples (NaN for a missing column)."""
        if name not in self.columns:
            return np.full(len(start), np.nan)
        col = self.columns[name]
        return np.asarray((np.interp(end, self.t, col) - np.interp(start, self.t, col)) * self.scale[name])


class Sampler:
    """Start the sampling process for the columns of `sources`; `stop()` returns its Timeline."""

    def __init__(self, columns: dict[str, str], out: Path, interval: float = INTERVAL_S) -> None:
        self.names = list(columns)
        self.specs = list(columns.values())
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cpu_timeline", str(out), str(interval), *self.specs],
            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != b"sampling\n":  # a request before the first sample would have no window
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            raise RuntimeError(f"the CPU timeline sampler did not start ({self.specs})")

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *_: object) -> None:
        """On the way out of a failed run: no sampler left behind."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        with contextlib.suppress(FileNotFoundError):
            self.out.unlink()

    def stop(self) -> Timeline:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"the CPU timeline sampler exited {self.proc.returncode}")
        data = np.fromfile(self.out, dtype=np.float64).reshape(-1, len(self.specs) + 1)
        scale = {
            n: (1e-6 if s.endswith((":usage_usec", ":some")) else 1e-9)
            for n, s in zip(self.names, self.specs, strict=True)
        }
        scale["throttled"] = 1.0
        return Timeline(data[:, 0], {n: data[:, i + 1] for i, n in enumerate(self.names)}, scale)


if __name__ == "__main__":
    sample(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:])
