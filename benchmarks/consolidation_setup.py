"""What the consolidation benchmark deploys: the models and their rates, B's variants, the deployment file.

B runs once per CPU mode asked for (`weight`: no cap, equal weights; `quota`: each container capped at
`--cpus-per-container` cores; `pinned`: that many whole cores each, only where the host has them to spare), and
once more, in the first mode, with thread pools sized to the machine: the values a framework server picks on
its own, put in each container's Environment (which wins over what the adapters derive from the allotment).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from adapters.threads import ALLOTMENT_VARIABLE, POOL_VARIABLES
from adapters.torchserve.properties import THREADS_ENV
from benchmarks.models import KINDS, Kind
from runtime.cgroups.cpu import MODES, pinned_cores
from runtime.units import parse_size

ENDPOINT = "bench-consolidation"
LIMIT_OVER_REQUEST = 2.0  # B's limits: at least the kind's own, and never below twice the request
RATES = (0.2, 2.0)  # requests/s per model: the low traffic multi-container endpoints are for
MACHINE = "machine threads"  # the suffix of the variant whose pools are sized to the machine
Sizing = tuple[dict[str, dict[str, float]], int]  # ({hostname: {memory, cpu}}, coserve's reserve): B's requests


def rates(spec: str, n: int) -> list[float]:
    """One value, a range `lo-hi` spread evenly over the N models, or N comma-separated values."""
    try:
        if "," in spec:
            out = [float(x) for x in spec.split(",")]
            if len(out) != n:
                raise SystemExit(f"--rate {spec}: {len(out)} values for {n} models")
        else:
            lo, _, hi = spec.partition("-")
            low, high = float(lo), float(hi or lo)
            out = [low if n == 1 else low + (high - low) * i / (n - 1) for i in range(n)]
    except ValueError:
        raise SystemExit(f"--rate {spec!r}: expected a number, LOW-HIGH or one value per model") from None
    bad = [r for r in out if not RATES[0] <= r <= RATES[1]]
    if bad:
        raise SystemExit(f"--rate {spec}: {bad[0]:g} requests/s is outside {RATES[0]:g}-{RATES[1]:g}")
    return [round(r, 3) for r in out]


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
    per = rates(args.rate, args.models)
    models = [{"hostname": f"m{i + 1:02d}-{kinds[i % len(kinds)].name}", "kind": kinds[i % len(kinds)].name,
               "rate": per[i]} for i in range(args.models)]  # fmt: skip
    return models, skipped


def variants(modes: str, machine_threads: bool, n: int, cpus: float, cores: int | None = None) -> list[dict[str, Any]]:
    """B's runs, in order: [{name, mode, machine_threads, not_applicable}] (the reason, or None). `cores`: the
    cores B's coserve will see (its instance's cpuset on a bigger host); default this process's."""
    asked = [m.strip() for m in modes.split(",") if m.strip()]
    if not asked or any(m not in MODES for m in asked):
        raise SystemExit(f"--cpu-modes {modes!r}: expected a comma-separated list of {', '.join(MODES)}")
    cores = cores or len(os.sched_getaffinity(0))
    out = []
    for mode in dict.fromkeys(asked):
        why = None
        if mode == "pinned" and n * pinned_cores(cpus) > cores - 1:
            why = (f"pinning {n} containers to {pinned_cores(cpus)} whole core(s) each needs {n * pinned_cores(cpus)} "
                   f"cores plus one for coserve; B has {cores}")  # fmt: skip
        out.append({"name": mode, "mode": mode, "machine_threads": False, "not_applicable": why})
    if machine_threads:
        first = next((v for v in out if v["not_applicable"] is None), out[0])
        out.append({**first, "name": f"{first['mode']}, {MACHINE}", "machine_threads": True})
    return out


def machine_environment(kind: str, cores: int) -> dict[str, str]:
    """What a framework server sizes its pools to when left alone: every core of the machine."""
    n = str(cores)
    env = {**dict.fromkeys(POOL_VARIABLES, n), ALLOTMENT_VARIABLE: n}
    if KINDS[kind].image == "tensorflow-serving":
        env.update(SAGEMAKER_TFS_INTRA_OP_PARALLELISM=n, SAGEMAKER_TFS_INTER_OP_PARALLELISM=n)
    if KINDS[kind].image == "torchserve":  # TorchServe's defaults: a worker and a netty thread per core
        env.update({"SAGEMAKER_MODEL_SERVER_WORKERS": n, THREADS_ENV: n})
    return env


def deployment(models: list[dict[str, Any]], artifacts: dict[str, Path], sizing: Sizing | None = None,
               variant: dict[str, Any] | None = None, cpus: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """The deployment file. `sizing` (B): each container's MemoryRequest and CpuRequest from A's measurements,
    its Memory limit the kind's own or above the request, and coserve's reserve; A keeps the kinds' limits.
    `variant` (B): its CpuMode (quota and pinned with Cpus = `cpus`) and, for the machine-sized run, the
    pools' environment."""
    containers, settings = [], {}
    for m in models:
        entry, own = KINDS[m["kind"]].container(m["hostname"], artifacts[m["kind"]])
        if sizing is not None:
            asked = sizing[0][m["hostname"]]
            limit = max(parse_size(own.get("Memory", 0)), int(asked["memory"] * LIMIT_OVER_REQUEST))
            own.update(MemoryRequest=int(asked["memory"]), Memory=limit, CpuRequest=asked["cpu"])
        if variant is not None:
            own["CpuMode"] = variant["mode"]
            if variant["mode"] != "weight":  # weight: no Cpus, so every container has the default weight
                own.update(Cpus=cpus, CpuRequest=min(cpus, own.get("CpuRequest", cpus)))
            if variant["machine_threads"]:
                entry["Environment"] = {**entry.get("Environment", {}),
                                        **machine_environment(m["kind"], os.cpu_count() or 1)}  # fmt: skip
        containers.append(entry)
        settings[m["hostname"]] = own
    # Starting every model at once on a few cores takes longer than one alone: a generous startup timeout.
    server: dict[str, Any] = {"StartupTimeout": f"{max(240, 30 * len(models))}s", "MaxContainers": max(15, len(models))}
    if sizing is not None:
        server["MemoryReserve"] = sizing[1]
    return {
        "EndpointName": ENDPOINT, "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": containers,
        "Coserve": {"Containers": settings, "Server": server},
    }  # fmt: skip
