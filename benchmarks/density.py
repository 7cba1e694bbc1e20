"""Density: many rarely used models on one host whose memory budget is smaller than all their copies together.

N inference components (bring-your-own echo servers, MinMemoryRequiredInMb 128, tagged coserve:IdleTimeout) on
one host whose free memory for requests (Coserve.Server.MemoryReserve set so) holds only --budget-copies of
them. Open-loop Poisson load per component: --busy of them at --busy-rate requests/s, the rest at --rare-rate
(most under 1 request/minute). Reports: peak memory of every copy's process (RSS summed, sampled each second)
against all N copies running at once (N x the median copy's RSS, and N x the reservation); the latency of
requests that waited for a wake (p50/p99) against a cold start (create -> first answer, measured alone first);
the share of requests that waited (latency over --waited-ms: an echo answers in milliseconds); errors; and the
monthly $ of this one host (EC2) against N single-model SageMaker endpoints of the smallest instance, from
benchmarks/prices.json (check its figures: it says which are recalled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from benchmarks.common import ROOT, finish, note_start, provenance, table
from runtime.confinement import host_capacity
from tests.runtime.control.test_live_boto3 import clients, model_url, start_host
from tests.support import free_block, free_port, wait_for

MIB = 2**20
HEADER = "X-Amzn-SageMaker-Inference-Component"


def components(sm: Any, names: list[str], url: str, idle: str, batch: int, quiet: Callable[[], bool]) -> None:
    """Create every component; in batches that fit the budget, each batch left to go idle (its processes gone,
    `quiet`) before the next."""
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        for name in chunk:
            sm.create_model(ModelName=f"{name}-model", PrimaryContainer={"Image": "process", "ModelDataUrl": url})
            sm.create_inference_component(
                InferenceComponentName=name, EndpointName="density", VariantName="AllTraffic",
                Specification={"ModelName": f"{name}-model",
                               "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128,
                                                               "MaxMemoryRequiredInMb": 256}},
                RuntimeConfig={"CopyCount": 1},
                Tags=[{"Key": "coserve:IdleTimeout", "Value": idle}, {"Key": "coserve:WakeTimeout", "Value": "60s"}],
            )  # fmt: skip
        for name in chunk:
            wait_for(lambda n=name: _current(sm, n) == ("InService", 0), 300, f"{name} up, then idle")
        wait_for(quiet, 60, "the idle copies' processes gone")


def _current(sm: Any, name: str) -> tuple[str, int]:
    d = sm.describe_inference_component(InferenceComponentName=name)
    return d["InferenceComponentStatus"], d["RuntimeConfig"]["CurrentCopyCount"]


def cold_start(sm: Any, rt: Any, url: str, n: int) -> list[float]:
    """create -> first answer of a fresh component, alone on the host, `n` times (each deleted after)."""
    out = []
    for i in range(n):
        name = f"cold{i}"
        sm.create_model(ModelName=f"{name}-model", PrimaryContainer={"Image": "process", "ModelDataUrl": url})
        started = time.perf_counter()
        sm.create_inference_component(
            InferenceComponentName=name, EndpointName="density", VariantName="AllTraffic",
            Specification={"ModelName": f"{name}-model", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128}},
            RuntimeConfig={"CopyCount": 1},
        )  # fmt: skip
        wait_for(lambda n=name: _current(sm, n)[1] == 1, 120, f"{name} running")
        rt.invoke_endpoint(EndpointName="density", InferenceComponentName=name, Body=b"x")
        out.append(time.perf_counter() - started)
        sm.delete_inference_component(InferenceComponentName=name)
        wait_for(lambda n=name: not _exists(sm, n), 60, f"{name} deleted")
    return out


def _exists(sm: Any, name: str) -> bool:
    return any(c["InferenceComponentName"] == name for c in sm.list_inference_components()["InferenceComponents"])


async def load(url: str, rates: dict[str, float], seconds: float, seed: int) -> list[tuple[str, float, int]]:
    """(component, latency s from the scheduled arrival, status) per request; open loop, Poisson per component."""
    rng, out = random.Random(seed), []

    async def one(session: aiohttp.ClientSession, name: str, due: float) -> None:
        try:
            async with session.post(url, data=b"x", headers={HEADER: name, "Content-Type": "text/plain"}) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        out.append((name, time.perf_counter() - due, status))

    async def arrivals(session: aiohttp.ClientSession, name: str, rate: float) -> None:
        tasks, start = [], time.perf_counter()
        due = start + rng.expovariate(rate)
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(session, name, due)))
            due += rng.expovariate(rate)
        await asyncio.gather(*tasks)

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(arrivals(session, n, r) for n, r in rates.items()))
    return out


class MemorySampler(threading.Thread):
    """Every second: the RSS summed over coserve's descendants (the copies), and how many there are."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.samples: list[tuple[int, int]] = []  # (bytes, processes)
        self.per_copy: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            rss = []
            for p in self.root.children(recursive=True):
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    continue
            self.samples.append((sum(rss), len(rss)))
            self.per_copy += rss


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else (values[0] if values else 0.0)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    budget = args.budget_copies * 128 * MIB
    reserve = host_capacity().memory_bytes - budget
    c = start_host(work / "host", work / "state", free_port(), free_block(10, args.models + 12),
                   MemoryReserve=str(reserve), DrainTimeout="2s")  # fmt: skip
    sm, rt = clients(c)
    try:
        sm.create_endpoint_config(EndpointConfigName="density", ProductionVariants=[
            {"VariantName": "AllTraffic", "InstanceType": "ml.c5.large", "InitialInstanceCount": 1}])  # fmt: skip
        sm.create_endpoint(EndpointName="density", EndpointConfigName="density")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="density", WaiterConfig={"Delay": 1})
        url = model_url(work, "echo", "echo")
        cold = cold_start(sm, rt, url, args.cold)
        names = [f"model{i:02d}" for i in range(args.models)]
        components(sm, names, url, args.idle, args.budget_copies, lambda: not c.descendants())
        rates = {n: (args.busy_rate if i < args.busy else args.rare_rate) for i, n in enumerate(names)}
        sampler = MemorySampler(c.proc.pid)
        sampler.start()
        done = asyncio.run(load(f"{c.url}/endpoints/density/invocations", rates, args.seconds, args.seed))
        sampler.stop.set()
        sampler.join()
    finally:
        sm.close()
        rt.close()
        c.stop()
    ok = [lat for _, lat, status in done if status == 200]
    waited = [lat for lat in ok if lat * 1000 > args.waited_ms]
    copy_rss = statistics.median(sampler.per_copy) if sampler.per_copy else 0
    return {
        "requests": len(done), "errors": len(done) - len(ok),
        "waited": len(waited), "waited_share": len(waited) / len(ok) if ok else 0.0,
        "wake_p50_s": pct(waited, 50), "wake_p99_s": pct(waited, 99),
        "served_p50_s": pct(ok, 50), "cold_start_s": cold,
        "peak_rss_bytes": max((s for s, _ in sampler.samples), default=0),
        "peak_copies": max((n for _, n in sampler.samples), default=0),
        "median_copy_rss_bytes": copy_rss, "all_copies_rss_bytes": copy_rss * args.models,
        "all_copies_reserved_bytes": args.models * 128 * MIB, "budget_bytes": budget,
    }  # fmt: skip


def dollars(models: int) -> dict[str, float]:
    prices = json.loads((ROOT / "benchmarks" / "prices.json").read_text())
    hours, small = prices["hours_per_month"], prices["instances"]["ml.c5.large"]
    return {"one_host_ec2_c5_large_month": small["ec2_usd_per_hour"] * hours,
            "endpoints_ml_c5_large_month": models * small["sagemaker_usd_per_hour"] * hours}  # fmt: skip


def render(doc: dict[str, Any], md: Path, png: Path) -> str:
    r, cfg = doc["results"], doc["config"]
    usd = r["dollars"]
    rows = [
        [
            "peak RSS of all copies (sampled 1/s)",
            f"{r['peak_rss_bytes'] / MIB:,.0f} MiB ({r['peak_copies']} processes)",
        ],
        [f"all {cfg['models']} copies at once (median copy RSS x N)", f"{r['all_copies_rss_bytes'] / MIB:,.0f} MiB"],
        [f"all {cfg['models']} copies' reservations (128 MiB x N)", f"{r['all_copies_reserved_bytes'] / MIB:,.0f} MiB"],
        ["memory budget for requests", f"{r['budget_bytes'] / MIB:,.0f} MiB"],
        ["requests (errors)", f"{r['requests']} ({r['errors']})"],
        [f"share that waited for a wake (> {cfg['waited_ms']} ms)", f"{r['waited_share']:.1%} ({r['waited']})"],
        ["wake latency p50 / p99", f"{r['wake_p50_s']:.2f} s / {r['wake_p99_s']:.2f} s"],
        ["cold start (create -> first answer), each", ", ".join(f"{s:.2f} s" for s in r["cold_start_s"])],
        ["served p50 (all requests)", f"{r['served_p50_s'] * 1000:.1f} ms"],
        ["$ per month: this host (EC2 c5.large)", f"{usd['one_host_ec2_c5_large_month']:,.0f}"],
        [f"$ per month: {cfg['models']} ml.c5.large endpoints", f"{usd['endpoints_ml_c5_large_month']:,.0f}"],
    ]
    text = "# Density: rarely used models on one host\n\n" + table(["figure", "value"], rows) + "\n\n" + provenance(doc)
    md.write_text(text + "\n")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--busy", type=int, default=5)
    parser.add_argument("--busy-rate", type=float, default=2.0, help="requests/s of each busy model")
    parser.add_argument("--rare-rate", type=float, default=1 / 90, help="requests/s of each other model")
    parser.add_argument("--budget-copies", type=int, default=20, help="copies of 128 MiB the free memory holds")
    parser.add_argument("--idle", default="20s", help="coserve:IdleTimeout of every component")
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--waited-ms", type=float, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/density.json")
    args = parser.parse_args()
    note_start()
    with tempfile.TemporaryDirectory(prefix="coserve-density-") as tmp:
        results = run(args, Path(tmp))
    results["dollars"] = dollars(args.models)
    config = {k: v for k, v in vars(args).items() if k != "out"}
    return finish("density", config, results, args.out, render)


if __name__ == "__main__":
    sys.exit(main())
