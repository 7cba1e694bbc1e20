"""What the supervise tick's cgroup reads cost the front door: `stats()` of N real v1 container cgroups.

The metrics sampler reads every container's cgroup (memory, CPU, pids, OOM kills, throttling) on each
supervise tick, on the event loop that also serves requests: a request that arrives meanwhile waits. This
times `runtime.cgroups.v1.V1Cgroup.stats()` over N cgroups (each with one sleeping process in it), as the tick
does, and with `--against DIR` the same from another checkout (an older commit: `git worktree add DIR REV`),
alternating the two in one run, and prints the ratio.

    .venv/bin/python benchmarks/tick_cost.py --containers 15 [--against /tmp/before]   # a few seconds; root, v1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
V1 = ("memory", "cpu", "cpuacct", "pids")
MOUNT = Path("/sys/fs/cgroup")

# Run inside the checkout being measured: its own runtime.cgroups.v1, on the cgroups made here.
PROBE = """
import json, sys, time
from pathlib import Path
from runtime.cgroups.v1 import V1Cgroup
groups = [V1Cgroup(name, {c: Path(p) for c, p in dirs.items()}) for name, dirs in json.loads(sys.argv[1])]
for g in groups:
    g.stats()  # warm: imports, first opens
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    for g in groups:
        g.stats()
    times.append(time.perf_counter() - t)
for g in groups:
    g.oom.close()
print(json.dumps(times))
"""


def make(n: int) -> tuple[list[tuple[str, dict[str, str]]], list[subprocess.Popen[bytes]]]:
    """n container-like cgroups under one parent (as coserve's run directory), a sleeping process in each."""
    parent = f"coserve-tick-{os.getpid()}"
    groups, procs = [], []
    for i in range(n):
        dirs = {c: str(MOUNT / c / parent / f"bench.1.m{i:02d}") for c in V1}
        for d in dirs.values():
            Path(d).mkdir(parents=True)
        join = " && ".join(f"echo $$ > {d}/cgroup.procs" for d in dirs.values())
        procs.append(subprocess.Popen(["sh", "-c", f"{join} && exec sleep 600"]))
        groups.append((f"bench.1.m{i:02d}", dirs))
    return groups, procs


def remove(groups: list[tuple[str, dict[str, str]]], procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.kill()
        p.wait()
    for _, dirs in groups:
        for d in dirs.values():
            Path(d).rmdir()
    for c in V1:
        parents = {Path(dirs[c]).parent for _, dirs in groups}
        for p in parents:
            p.rmdir()


def measure(root: Path, groups: list[tuple[str, dict[str, str]]], ticks: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(groups), str(ticks)], cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, check=True)  # fmt: skip
    return [float(x) for x in json.loads(out.stdout)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=15)
    parser.add_argument("--ticks", type=int, default=200, help="ticks per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout, measured side by side")
    args = parser.parse_args()
    if not (MOUNT / "memory" / "memory.limit_in_bytes").exists():
        raise SystemExit("tick_cost.py measures the cgroup v1 reads: this host has no v1 memory hierarchy")
    sides = {"this checkout": ROOT, **({"--against": args.against.resolve()} if args.against else {})}
    groups, procs = make(args.containers)
    try:
        got: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(args.rounds):
            for name in list(sides)[:: 1 if r % 2 == 0 else -1]:  # alternate the order each round
                got[name] += measure(sides[name], groups, args.ticks)
    finally:
        remove(groups, procs)
    print(
        f"{args.containers} cgroups, {args.rounds} x {args.ticks} ticks a side (load average {os.getloadavg()[0]:.2f}):"
    )
    med = {}
    for name, times in got.items():
        med[name] = statistics.median(times)
        p99 = sorted(times)[int(0.99 * (len(times) - 1))]
        print(f"  {name}: median {med[name] * 1000:.2f} ms per tick, p99 {p99 * 1000:.2f} ms, "
              f"{med[name] / args.containers * 1e6:.0f} µs per container")  # fmt: skip
    if args.against:
        print(f"  ratio --against / this checkout: {med['--against'] / med['this checkout']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
