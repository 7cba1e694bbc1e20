"""Front-door overhead: the same wrk load straight to a container, through HAProxy and through coserve, one run.

One fast bring-your-own container (benchmarks/containers/fast_echo.py echoes a 1 KB JSON body) runs under
coserve; wrk posts to its port directly, through HAProxy (the anchor: Debian's package, routing on the target
header to the same container), then to coserve's `/endpoints/<ep>/invocations` with the target header, at 1,
16 and 64 connections, in two modes: `max` (closed loop, as fast as it goes) and `paced` (a moderate fixed
rate, default 500 requests/s in all). Every side hits the same container process (a coserve with more
workers, `--workers 1,2`, runs its own copy of it). Each proxy's CPU time comes from its cgroup (the
benchmark starts each in one), less coserve's containers' cgroups.

    .venv/bin/python benchmarks/overhead.py                        # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/overhead.py --workers 1,2,4        # a bigger host: 4 workers too
    .venv/bin/python benchmarks/overhead.py --patched-root /tmp/wt # also a patched checkout, side by side

Side `dataplane` is one more coserve with `Coserve.Server.DataPlane: haproxy`: HAProxy inside coserve relays the
Direct invocations (its CPU is counted in coserve's cgroup, with the Python front door's and the supervisor's).

On 2 shared cores wrk, the container and coserve compete; `--pin` (default with 2+ cores) gives wrk CPU 0
and the server side (container, coserve) the others, so both sides are served by the same CPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: python benchmarks/overhead.py

from benchmarks import launch, wrk  # noqa: E402
from benchmarks.common import RESULTS, finish, note_start  # noqa: E402
from benchmarks.haproxy import FloorSide, HAProxySide  # noqa: E402
from benchmarks.instance import InstanceCgroup  # noqa: E402
from benchmarks.overhead_report import render  # noqa: E402

ENDPOINT = "bench-overhead"
HOST = "echo"
TARGET = "X-Amzn-SageMaker-Target-Container-Hostname"
BODY = json.dumps({"instances": [[round(i * 0.37, 2) for i in range(200)]]}).encode()[:1000]
BODY = BODY.rsplit(b",", 1)[0] + b"]]}"  # about 1 KB of valid JSON


class Side:
    """One coserve (in its own accounting cgroup) with the echo container, and how to reach each."""

    def __init__(self, name: str, root: Path, work: Path, server_cpus: str | None, workers: int,
                 plane: str = "python") -> None:  # fmt: skip
        self.name = name
        self.plane = plane
        self.root = root
        self.work = work / name
        self.server_cpus = server_cpus
        self.workers = workers
        self.cgroup = InstanceCgroup(f"coserve-bench-{name}-{os.getpid()}", float(os.cpu_count() or 1), 8 << 30)
        self.running: launch.Running | None = None

    def start(self) -> None:
        echo = [sys.executable, str(ROOT / "benchmarks" / "containers" / "fast_echo.py")]
        doc = {
            "EndpointName": ENDPOINT, "InferenceExecutionConfig": {"Mode": "Direct"},
            "Containers": [{"ContainerHostname": HOST, "Image": "process"}],
            "Coserve": {"Containers": {HOST: {"Command": echo, "Memory": "256MiB"}},
                        "Server": {"Workers": self.workers, "DataPlane": self.plane}},
        }  # fmt: skip
        pin = ["taskset", "-c", self.server_cpus] if self.server_cpus else []
        self.cgroup.create()
        self.running = launch.start(doc, self.work, [*pin, *self.cgroup.prologue([])], root=self.root)

    def container_port(self) -> int:
        assert self.running is not None
        return int(self.running.routes()[HOST]["port"])

    def urls(self) -> tuple[str, str]:
        assert self.running is not None
        port = self.container_port()
        return f"http://127.0.0.1:{port}/invocations", f"{self.running.url}/endpoints/{ENDPOINT}/invocations"

    def cpu_ns(self) -> tuple[int, int]:
        """(coserve's own CPU ns: front door + supervisor, its containers' CPU ns). The container's cgroup is
        `<endpoint>.<generation>.<hostname>` under coserve's own (runtime.supervisor.keys.ContainerKey)."""
        below = f"*/{ENDPOINT}.1.{HOST}"
        if not self.cgroup.container_dirs(below):
            raise RuntimeError(f"no cgroup {below} under {self.cgroup.dirs}: has coserve's naming changed?")
        container = self.cgroup.cpu_ns(below)
        return self.cgroup.cpu_ns() - container, container

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
        self.cgroup.remove()


def measure(url: str, side: Side | HAProxySide | FloorSide, load: wrk.Load, scratch: Path) -> dict[str, Any]:
    before = side.cpu_ns()
    result = wrk.run(load, BODY, {"Content-Type": "application/json", TARGET: HOST}, scratch)
    after = side.cpu_ns()
    per_k = max(result["requests"], 1) / 1000
    result["proxy_cpu_ms_per_1k"] = (after[0] - before[0]) / 1e6 / per_k  # the side's own: coserve or HAProxy
    result["container_cpu_ms_per_1k"] = (after[1] - before[1]) / 1e6 / per_k
    result["proxy_cores"] = (after[0] - before[0]) / 1e3 / result["duration_us"]
    return result


def plan(args: argparse.Namespace) -> Iterator[tuple[str, int, int, int]]:
    """(mode, connections, delay_ms, round) in run order."""
    for mode in args.modes.split(","):
        for conns in (int(c) for c in args.connections.split(",")):
            delay = 0 if mode == "max" else max(1, round(conns * 1000 / args.rate))
            for r in range(args.rounds):
                yield mode, conns, delay, r


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    pin = args.pin and cpus >= 2
    wrk_cpus, server_cpus = ("0", f"1-{cpus - 1}") if pin else (None, None)
    workers = [int(w) for w in args.workers.split(",")]
    sides = [Side(side_name("coserve", w), ROOT, work, server_cpus, w) for w in workers]
    if args.data_plane:  # HAProxy relaying Direct invocations inside coserve (Coserve.Server.DataPlane: haproxy)
        sides.append(Side("dataplane", ROOT, work, server_cpus, 1, "haproxy"))
    if args.patched_root:
        sides.append(Side("patched", args.patched_root.resolve(), work, server_cpus, workers[0]))
    anchor = HAProxySide(work, server_cpus, f"coserve-bench-haproxy-{os.getpid()}")
    runs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        for side in sides:
            stack.callback(side.stop)
            side.start()
        stack.callback(anchor.stop)
        direct_url = sides[0].urls()[0]
        anchor.start(TARGET, HOST, sides[0].container_port())
        targets: list[tuple[str, str, Side | HAProxySide | FloorSide]] = [("direct", direct_url, sides[0])]
        targets += [("haproxy", anchor.urls()[1], anchor)] + [(s.name, s.urls()[1], s) for s in sides]
        if args.floor:
            floor = FloorSide(work, server_cpus, f"coserve-bench-floor-{os.getpid()}")
            stack.callback(floor.stop)
            floor.start()
            targets.append((floor.name, floor.urls()[1], floor))
        for _, url, side in targets:  # warm up every path: connections, caches, lazy imports
            measure(url, side, wrk.Load(url, 16, 1.0, 0, wrk_cpus), work)
        for mode, conns, delay, r in plan(args):
            order = targets[r % len(targets) :] + targets[: r % len(targets)]  # rotate: nobody always goes first
            row: dict[str, Any] = {"mode": mode, "connections": conns, "delay_ms": delay, "round": r}
            for name, url, side in order:
                row[name] = measure(url, side, wrk.Load(url, conns, args.seconds, delay, wrk_cpus), work)
            runs.append(row)
            print(_line(row, [t[0] for t in targets]), flush=True)
    return {"runs": runs, "pinned": {"wrk": wrk_cpus, "servers": server_cpus}, "workers": workers}


def side_name(base: str, workers: int) -> str:
    return base if workers == 1 else f"{base}-{workers}w"


def _line(row: dict[str, Any], names: list[str]) -> str:
    parts = [f"{row['mode']:>5} c={row['connections']:<3} r{row['round']}"]
    for n in names:
        m = row[n]
        parts.append(f"{n}: {m['rps']:8.0f} rps p50 {m['p50_us']:6d}µs p99 {m['p99_us']:7d}µs "
                     f"cpu {m['proxy_cpu_ms_per_1k']:5.0f}ms/1k")  # fmt: skip
    return " | ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--modes", default="max,paced", help="max (closed loop) and/or paced (--rate)")
    parser.add_argument("--rate", type=float, default=500.0, help="total requests/s of the paced mode")
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per point")
    parser.add_argument("--workers", default="1,2", help="coserve Server.Workers, one side each (gunicorn above 1)")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure uvicorn with the front door's protocol answering itself (no proxying)",
    )
    parser.add_argument(
        "--data-plane",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure coserve with Coserve.Server.DataPlane: haproxy (side 'dataplane')",
    )
    parser.add_argument("--patched-root", type=Path, help="a second checkout measured as side 'patched'")
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args()
    wrk.require()
    note_start()
    with tempfile.TemporaryDirectory(prefix="coserve-overhead-") as tmp:
        results = run(args, Path(tmp))
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
    config["body_bytes"] = len(BODY)
    config["load_generator"] = "wrk 4 (-t1), Lua POST script; paced = per-connection delay()"
    return finish("overhead", config, results, args.out, render)


if __name__ == "__main__":
    sys.exit(main())
