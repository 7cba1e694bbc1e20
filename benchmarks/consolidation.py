"""Consolidation cost: N models on N instance-sized endpoints (A) against all N in one coserve (B).

A: each model alone in its own coserve, confined to an instance-sized cgroup (default ml.c5.large,
2 vCPU / 4 GiB), measured one at a time. B: all N in one coserve confined to the smallest instance of
benchmarks/prices.json that holds B's requests, all loads at once. B's requests come from A: each container's
MemoryRequest is its measured peak x headroom and its CpuRequest its CPU under load x headroom, coserve's
MemoryReserve the largest front door A saw x headroom; its Memory limit stays the kind's (at least twice the
request), so the limits overcommit the instance and admission counts the requests.
Every model gets open-loop Poisson traffic (default 1-5 requests/s, spread over the models). A and B
alternate (A B, then B A). The saving is stated only where every model's p99 in B is within 10% of A's.

    .venv/bin/python benchmarks/consolidation.py             # N=3 (scikit-learn, TorchServe, TF): ~4 min on 2 cores
    .venv/bin/python benchmarks/consolidation.py --models 15 # five of each on 2 cores (short: --seconds 5 --rounds 1)
    .venv/bin/python benchmarks/consolidation.py --big       # N=15, 60 s per scenario, on a 16-core host
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: python benchmarks/consolidation.py

from benchmarks import launch, poisson  # noqa: E402
from benchmarks.common import RESULTS, finish  # noqa: E402
from benchmarks.consolidation_report import choose_instance, render, requests  # noqa: E402
from benchmarks.instance import InstanceCgroup  # noqa: E402
from benchmarks.models import KINDS, Kind  # noqa: E402
from runtime.units import parse_size  # noqa: E402
from tests.support import wait_for  # noqa: E402

GIB = 2**30
ENDPOINT = "bench-consolidation"
LIMIT_OVER_REQUEST = 2.0  # B's limits: at least the kind's own, and never below twice the request
Sizing = tuple[dict[str, dict[str, float]], int]  # ({hostname: {memory, cpu}}, coserve's reserve): B's requests


def plan_models(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """[{hostname, kind, rate}], and the kinds left out with why."""
    kinds: list[Kind] = []
    skipped: dict[str, str] = {}
    for name in args.kinds.split(","):
        why = KINDS[name].missing()
        if why is None:
            kinds.append(KINDS[name])
        else:
            skipped[name] = why
            print(f"skipping {name}: {why}", flush=True)
    lo, _, hi = args.rate.partition("-")
    low, high = float(lo), float(hi or lo)
    models = []
    for i in range(args.models):
        kind = kinds[i % len(kinds)]
        rate = low if args.models == 1 else low + (high - low) * i / (args.models - 1)
        models.append({"hostname": f"m{i + 1:02d}-{kind.name}", "kind": kind.name, "rate": round(rate, 2)})
    return models, skipped


def deployment(
    models: list[dict[str, Any]], artifacts: dict[str, Path], sizing: Sizing | None = None
) -> dict[str, Any]:
    """The deployment file. `sizing` (B): each container's MemoryRequest and CpuRequest from A's measurements,
    its Memory limit the kind's own or above the request, and coserve's reserve; A keeps the kinds' limits."""
    containers, settings = [], {}
    for m in models:
        entry, own = KINDS[m["kind"]].container(m["hostname"], artifacts[m["kind"]])
        if sizing is not None:
            asked = sizing[0][m["hostname"]]
            limit = max(parse_size(own.get("Memory", 0)), int(asked["memory"] * LIMIT_OVER_REQUEST))
            own.update(MemoryRequest=int(asked["memory"]), Memory=limit, CpuRequest=asked["cpu"])
        containers.append(entry)
        settings[m["hostname"]] = own
    # Starting every model at once on a few cores takes longer than one alone: a generous startup timeout.
    server = {"StartupTimeout": f"{max(240, 30 * len(models))}s", "MaxContainers": max(15, len(models))}
    if sizing is not None:
        server["MemoryReserve"] = sizing[1]
    return {
        "EndpointName": ENDPOINT, "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": containers,
        "Coserve": {"Containers": settings, "Server": server},
    }  # fmt: skip


def ready_seconds(running: launch.Running, hosts: list[str]) -> dict[str, float | None]:
    """Spawn to first /ping 200 per container, from /coserve/status (its snapshot is published each second)."""

    def read() -> dict[str, float | None] | None:
        found = {c["hostname"]: c.get("ready_seconds") for c in running.status().get("containers", [])}
        return found if all(found.get(h) is not None for h in hosts) else None

    try:
        return wait_for(read, 10, "ready_seconds in /coserve/status")  # type: ignore[no-any-return]
    except TimeoutError:
        return dict.fromkeys(hosts)


def scenario(label: str, models: list[dict[str, Any]], artifacts: dict[str, Path], instance: dict[str, Any],
             seconds: float, work: Path, seed: int, sizing: Sizing | None = None) -> dict[str, Any]:  # fmt: skip
    """One coserve holding `models`, confined to `instance`, all loads at once; figures per container."""
    cpus = min(float(instance["vcpu"]), float(os.cpu_count() or 1))
    cg = InstanceCgroup(f"coserve-bench-{label}-{os.getpid()}", cpus, int(instance["memory_gib"] * GIB)).create()
    hosts = [m["hostname"] for m in models]
    doc = deployment(models, artifacts, sizing)
    try:
        spawned = time.monotonic()
        running = launch.start(doc, work / label, cg.prologue([]), ready_s=max(240, 30 * len(models)) + 30)
        all_ready_s = time.monotonic() - spawned
        try:
            cold = ready_seconds(running, hosts)
            admission = running.status().get("host")
            idle = {h: cg.memory_now(f"*/{h}") for h in hosts}
            url = f"{running.url}/endpoints/{ENDPOINT}/invocations"
            streams = [poisson.Stream(url, m["hostname"], KINDS[m["kind"]].body(), m["rate"]) for m in models]
            poisson.warm(streams)
            cpu0 = {h: cg.cpu_ns(f"*/{h}") for h in hosts}
            total0 = cg.cpu_ns()
            outcomes = poisson.drive(streams, seconds, seed)
            cpu1 = {h: cg.cpu_ns(f"*/{h}") for h in hosts}
            total1 = cg.cpu_ns()
            per = {h: {"latencies_ms": outcomes[h].latencies_ms, "errors": outcomes[h].errors,
                       "ready_s": cold[h], "idle_memory_bytes": idle[h],
                       "peak_memory_bytes": cg.memory_peak(f"*/{h}"),
                       "cpu_cores": (cpu1[h] - cpu0[h]) / 1e9 / seconds} for h in hosts}  # fmt: skip
            front = (total1 - total0 - sum(cpu1[h] - cpu0[h] for h in hosts)) / 1e9 / seconds
            sizes = {h: {k: v for k, v in doc["Coserve"]["Containers"][h].items() if k != "Command"} for h in hosts}
            return {"containers": per, "instance_peak_memory_bytes": cg.memory_peak(), "all_ready_s": all_ready_s,
                    "coserve_cpu_cores": front, "oom_kills": cg.oom_kills(), "cgroup_cpus": cpus,
                    "admission": admission, "sizes": sizes}  # fmt: skip
        finally:
            running.stop()
    finally:
        cg.remove()


def run_a(models: list[dict[str, Any]], artifacts: dict[str, Path], instance: dict[str, Any], seconds: float,
          work: Path, r: int) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"containers": {}, "instances": {}}
    for m in models:
        res = scenario(f"a{r}-{m['hostname']}", [m], artifacts, instance, seconds, work, r)
        out["containers"].update(res.pop("containers"))
        out["instances"][m["hostname"]] = res
        print(f"  A round {r}: {m['hostname']} done", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=3, help="N models (default 3; --big: 15)")
    parser.add_argument(
        "--kinds", default="sklearn,torchserve,tensorflow", help="cycled over the N models (also: numpy)"
    )
    parser.add_argument("--rate", default="1-5", help="requests/s per model: one value, or a range spread over N")
    parser.add_argument("--seconds", type=float, default=15.0, help="load per scenario and round")
    parser.add_argument("--rounds", type=int, default=2, help="A/B alternations (A B, B A, ...)")
    parser.add_argument("--a-instance", default="ml.c5.large", help="the instance of each endpoint in A")
    parser.add_argument("--b-instance", help="the instance of B (default: smallest that holds A's peaks)")
    parser.add_argument("--headroom", type=float, default=1.25, help="B's requests: A's peaks x this")
    parser.add_argument("--big", action="store_true", help="a 16-core host: N=15, 60 s per scenario")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached model artifacts")
    parser.add_argument("--prices", type=Path, default=ROOT / "benchmarks" / "prices.json")
    parser.add_argument("--out", type=Path, default=RESULTS / "consolidation.json")
    args = parser.parse_args()
    if args.big:
        args.models, args.seconds = max(args.models, 15), max(args.seconds, 60.0)
    prices = json.loads(args.prices.read_text())
    models, skipped = plan_models(args)
    artifacts = {k: KINDS[k].artifact(args.rebuild) for k in dict.fromkeys(m["kind"] for m in models)}
    rounds: list[dict[str, Any]] = []
    b_name = args.b_instance
    sizing: Sizing | None = None  # B's requests, from the first A round's measurements
    with tempfile.TemporaryDirectory(prefix="coserve-consolidation-") as tmp:
        work = Path(tmp)
        for r in range(args.rounds):
            row: dict[str, Any] = {"round": r}
            for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                if side == "A":
                    row["A"] = run_a(models, artifacts, prices["instances"][args.a_instance], args.seconds, work, r)
                    b_name = b_name or choose_instance(row["A"], prices, args.headroom)
                else:
                    a = row.get("A") or rounds[-1]["A"]
                    b_name = b_name or choose_instance(a, prices, args.headroom)
                    sizing = sizing or requests(a, args.headroom)
                    row["B"] = scenario(f"b{r}", models, artifacts, prices["instances"][b_name], args.seconds, work, r,
                                        sizing)  # fmt: skip
                    print(f"  B round {r} on {b_name} done", flush=True)
            rounds.append(row)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
    config.update(models=models, skipped_kinds=skipped, b_instance=b_name, host_cores=os.cpu_count())
    return finish("consolidation", config, {"rounds": rounds, "prices": prices}, args.out, render)


if __name__ == "__main__":
    sys.exit(main())
