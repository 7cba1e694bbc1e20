"""Consolidation cost: N models on N instance-sized endpoints (A) against all N in one coserve (B).

A: each model alone in its own coserve, confined to an instance-sized cgroup (default ml.c5.large,
2 vCPU / 4 GiB), measured one at a time. B: all N in one coserve confined to the smallest instance of
benchmarks/prices.json that holds B's requests, all loads at once. B's requests come from A: each container's
MemoryRequest is its measured peak x headroom and its CpuRequest its CPU under load x headroom, coserve's
MemoryReserve the largest front door A saw x headroom; its Memory limit stays the kind's (at least twice the
request), so the limits overcommit the instance and admission counts the requests.
Every model gets open-loop Poisson traffic (0.2-2 requests/s each; default spread over the models). A and B
alternate (A B, then B A). B runs once per --cpu-modes entry, and with --machine-threads once more with the
thread pools sized to the machine (the before of the adapters' sizing). The saving is stated only where
every model's p99 ratio B/A has the upper bound of its 95% bootstrap interval within 1.10
(benchmarks/consolidation_stats.py).

    .venv/bin/python benchmarks/consolidation.py             # N=3 (scikit-learn, TorchServe, TF): ~4 min on 2 cores
    .venv/bin/python benchmarks/consolidation.py --models 15 # five of each on 2 cores (short: --seconds 5 --rounds 1)
    .venv/bin/python benchmarks/consolidation.py --big       # N=15, 60 s per scenario, on a 16-core host
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: python benchmarks/consolidation.py

from benchmarks import launch, poisson  # noqa: E402
from benchmarks.common import RESULTS, document, finish, note_start, write_json  # noqa: E402
from benchmarks.consolidation_report import choose_instance, render, requests  # noqa: E402
from benchmarks.consolidation_setup import ENDPOINT, Sizing, deployment, plan_models, variants  # noqa: E402
from benchmarks.consolidation_tail import context  # noqa: E402
from benchmarks.cpu_timeline import Sampler, sources  # noqa: E402
from benchmarks.instance import InstanceCgroup, instance_cores  # noqa: E402
from benchmarks.models import KINDS  # noqa: E402
from tests.support import wait_for  # noqa: E402

GIB = 2**30
LATENCY = "coserve_container_latency_microseconds"


def below(hostname: str) -> str:
    """The glob, under the instance cgroup, of a container's cgroup: coserve names it
    `<endpoint>.<generation>.<hostname>` (runtime.supervisor.keys.ContainerKey) under its own cgroup."""
    return f"*/{ENDPOINT}.1.{hostname}"


def ready_seconds(running: launch.Running, hosts: list[str]) -> dict[str, float | None]:
    """Spawn to first /ping 200 per container, from /coserve/status (its snapshot is published each second)."""

    def read() -> dict[str, float | None] | None:
        found = {c["hostname"]: c.get("ready_seconds") for c in running.status().get("containers", [])}
        return found if all(found.get(h) is not None for h in hosts) else None

    try:
        return wait_for(read, 10, "ready_seconds in /coserve/status")  # type: ignore[no-any-return]
    except TimeoutError:
        return dict.fromkeys(hosts)


def container_latency(text: str) -> dict[str, tuple[float, float]]:
    """{container: (sum of ContainerLatency in microseconds, count)} from a /metrics text."""
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        if line.startswith((LATENCY + "_sum{", LATENCY + "_count{")) and 'container="' in line:
            host = line.split('container="', 1)[1].split('"', 1)[0]
            out.setdefault(host, [0.0, 0.0])[0 if "_sum{" in line else 1] += float(line.rsplit(" ", 1)[1])
    return {h: (v[0], v[1]) for h, v in out.items()}


def service_ms(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], host: str
) -> float | None:
    """The container's mean time to answer over the load (the /metrics difference), in ms."""
    (s0, n0), (s1, n1) = before.get(host, (0.0, 0.0)), after.get(host, (0.0, 0.0))
    return (s1 - s0) / (n1 - n0) / 1000 if n1 > n0 else None


def scenario(label: str, models: list[dict[str, Any]], artifacts: dict[str, Path], instance: dict[str, Any],
             args: argparse.Namespace, work: Path, seed: int, sizing: Sizing | None = None,
             variant: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One coserve holding `models`, confined to `instance`, all loads at once; figures per container."""
    cpus = min(float(instance["vcpu"]), float(os.cpu_count() or 1))
    cores = instance_cores(float(instance["vcpu"]))  # a bigger host: the instance's vCPUs as whole cores
    cg = InstanceCgroup(f"coserve-bench-{label}-{os.getpid()}", cpus, int(instance["memory_gib"] * GIB), cores).create()
    hosts = [m["hostname"] for m in models]
    doc = deployment(models, artifacts, sizing, variant, args.cpus_per_container)
    seconds = args.seconds
    try:
        spawned = time.monotonic()
        running = launch.start(doc, work / label, cg.prologue([]), ready_s=max(240, 30 * len(models)) + 30)
        all_ready_s = time.monotonic() - spawned
        try:
            cold = ready_seconds(running, hosts)
            admission = running.status().get("host")
            missing = [h for h in hosts if not cg.container_dirs(below(h))]
            if missing:
                raise RuntimeError(f"no cgroup found for {missing} under {cg.dirs}: has coserve's naming changed?")
            idle = {h: cg.memory_now(below(h)) for h in hosts}
            url = f"{running.url}/endpoints/{ENDPOINT}/invocations"
            streams = [poisson.Stream(url, m["hostname"], KINDS[m["kind"]].body(), m["rate"]) for m in models]
            poisson.warm(streams)
            columns = sources(cg.cpu_dir(), {h: cg.container_dirs(below(h))[0] for h in hosts}, cg.cpu_stat_dir())
            cpu0 = {h: cg.cpu_ns(below(h)) for h in hosts}
            thr0 = {h: cg.throttled(below(h)) for h in hosts}
            total0, inst0, lat0 = cg.cpu_ns(), cg.throttled(), container_latency(running.get("/metrics")[1].decode())
            with Sampler(columns, work / f"{label}.timeline") as sampler:
                outcomes = poisson.drive(streams, seconds, seed)
                timeline = sampler.stop()
            cpu1 = {h: cg.cpu_ns(below(h)) for h in hosts}
            thr1 = {h: cg.throttled(below(h)) for h in hosts}
            total1, inst1, lat1 = cg.cpu_ns(), cg.throttled(), container_latency(running.get("/metrics")[1].decode())
            contexts = context({h: outcomes[h].spans for h in hosts}, timeline)
            per = {h: {"latencies_ms": outcomes[h].latencies_ms, "errors": outcomes[h].errors,
                       "ready_s": cold[h], "idle_memory_bytes": idle[h],
                       "peak_memory_bytes": cg.memory_peak(below(h)), "context": contexts[h],
                       "cpu_cores": (cpu1[h] - cpu0[h]) / 1e9 / seconds,
                       "nr_throttled": thr1[h] - thr0[h], "service_ms": service_ms(lat0, lat1, h)}
                   for h in hosts}  # fmt: skip
            front = (total1 - total0 - sum(cpu1[h] - cpu0[h] for h in hosts)) / 1e9 / seconds
            sizes = {h: {k: v for k, v in doc["Coserve"]["Containers"][h].items() if k != "Command"} for h in hosts}
            return {"containers": per, "instance_peak_memory_bytes": cg.memory_peak(), "all_ready_s": all_ready_s,
                    "coserve_cpu_cores": front, "oom_kills": cg.oom_kills(), "cgroup_cpus": cpus,
                    "cgroup_cores": cores,
                    "instance_nr_throttled": inst1 - inst0, "admission": admission, "sizes": sizes,
                    "environment": {c["ContainerHostname"]: c.get("Environment", {})
                                    for c in doc["Containers"]}}  # fmt: skip
        finally:
            running.stop()
    finally:
        cg.remove()


def run_a(models: list[dict[str, Any]], artifacts: dict[str, Path], instance: dict[str, Any],
          args: argparse.Namespace, work: Path, r: int) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"containers": {}, "instances": {}}
    for m in models:
        t0 = time.monotonic()
        res = scenario(f"a{r}-{m['hostname']}", [m], artifacts, instance, args, work, r)
        out["containers"].update(res.pop("containers"))
        out["instances"][m["hostname"]] = res
        print(f"  A round {r}: {m['hostname']} done in {time.monotonic() - t0:.0f} s", flush=True)
    return out


def run_b(models: list[dict[str, Any]], artifacts: dict[str, Path], instance: dict[str, Any],
          args: argparse.Namespace, work: Path, r: int, sizing: Sizing, out: dict[str, Any],
          save: Callable[[], None]) -> None:  # fmt: skip
    """B once per variant into `out`: {name: its scenario, or {not_applicable: why}}, saved after each. A variant
    that would pass the --budget-minutes (judged by the longest B so far) is left out, and says so."""
    longest = 0.0
    seen = instance_cores(float(instance["vcpu"]))  # what B's coserve will see as its cores
    cores = len(seen) if seen else None
    for v in variants(args.cpu_modes, args.machine_threads, len(models), args.cpus_per_container, cores):
        if v["not_applicable"]:
            out[v["name"]] = {"not_applicable": v["not_applicable"]}
            continue
        left = args.budget_minutes * 60 - (time.monotonic() - args.started)
        if args.budget_minutes and longest > left:
            out[v["name"]] = {"not_applicable": f"not run: {left:.0f} s left of --budget-minutes, a B run took "
                                                f"{longest:.0f} s"}  # fmt: skip
            continue
        t0 = time.monotonic()
        label = f"b{r}-{v['name'].replace(',', '').replace(' ', '-')}"
        out[v["name"]] = {**scenario(label, models, artifacts, instance, args, work, r, sizing, v), "variant": v}
        longest = max(longest, time.monotonic() - t0)
        print(f"  B round {r} ({v['name']}) done in {time.monotonic() - t0:.0f} s", flush=True)
        save()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--models", type=int, default=3, help="N models (default 3; --big: 15)")
    add("--kinds", default="sklearn,torchserve,tensorflow", help="cycled over the N models (also: numpy)")
    add("--rate", default="0.2-2", help="requests/s per model, each within 0.2-2: one value, LOW-HIGH spread over "
        "the N models, or N comma-separated values")  # fmt: skip
    add("--seconds", type=float, default=15.0, help="load per scenario and round")
    add("--rounds", type=int, default=2, help="A/B alternations (A B, B A, ...)")
    add("--a-instance", default="ml.c5.large", help="the instance of each endpoint in A")
    add("--b-instance", help="the instance of B (default: smallest that holds A's peaks)")
    add("--headroom", type=float, default=1.25, help="B's requests: A's peaks x this")
    add("--cpu-modes", default="weight", help="B once per CpuMode: weight,quota,pinned (the first is the headline)")
    add("--cpus-per-container", type=float, default=1.0, help="Cpus of each container in quota and pinned modes")
    add("--machine-threads", action="store_true", help="B once more with thread pools sized to the machine")
    add("--budget-minutes", type=float, default=0, help="leave out B runs that would pass this (0: no limit)")
    add("--big", action="store_true", help="a 16-core host: N=15, 60 s per scenario")
    add("--rebuild", action="store_true", help="rebuild the cached model artifacts")
    add("--prices", type=Path, default=ROOT / "benchmarks" / "prices.json")
    add("--out", type=Path, default=RESULTS / "consolidation.json")
    args = parser.parse_args()
    if args.big:
        args.models, args.seconds = max(args.models, 15), max(args.seconds, 60.0)
    args.started = time.monotonic()
    return args


def main() -> int:
    args = arguments()
    note_start()  # the load average before this run's own load, not when the report is written
    prices = json.loads(args.prices.read_text())
    models, skipped = plan_models(args)
    variants(args.cpu_modes, args.machine_threads, len(models), args.cpus_per_container)  # a bad list fails now
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
                    row["A"] = run_a(models, artifacts, prices["instances"][args.a_instance], args, work, r)
                    b_name = b_name or choose_instance(row["A"], prices, args.headroom)
                else:
                    a = row.get("A") or rounds[-1]["A"]
                    b_name = b_name or choose_instance(a, prices, args.headroom)
                    sizing = sizing or requests(a, args.headroom)
                    row["B"] = {}
                    save = functools.partial(checkpoint, args, models, skipped, b_name, [*rounds, row], prices)
                    run_b(models, artifacts, prices["instances"][b_name], args, work, r, sizing, row["B"], save)
            rounds.append(row)
    config = settings(args, models, skipped, b_name)
    return finish("consolidation", config, {"rounds": rounds, "prices": prices}, args.out, render)


def checkpoint(args: argparse.Namespace, models: list[dict[str, Any]], skipped: dict[str, str], b_name: str | None,
               rounds: list[dict[str, Any]], prices: dict[str, Any]) -> None:  # fmt: skip
    """The JSON so far: a run stopped later still leaves what it measured (`python -m
    benchmarks.consolidation_report FILE` renders it)."""
    write_json(document("consolidation", settings(args, models, skipped, b_name), {"rounds": rounds,
               "prices": prices}), args.out)  # fmt: skip


def settings(args: argparse.Namespace, models: list[dict[str, Any]], skipped: dict[str, str],
             b_name: str | None) -> dict[str, Any]:  # fmt: skip
    """The config part of the result: the arguments, the models, B's instance and variants, the load at the end."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "started")}
    config.update(models=models, skipped_kinds=skipped, b_instance=b_name, host_cores=os.cpu_count(),
                  loadavg_at_end=[round(x, 2) for x in os.getloadavg()],
                  variants=[v["name"] for v in variants(args.cpu_modes, args.machine_threads, len(models),
                                                        args.cpus_per_container)])  # fmt: skip
    return config


if __name__ == "__main__":
    sys.exit(main())
