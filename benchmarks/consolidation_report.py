"""The consolidation benchmark's instance choice and Markdown report (rows: consolidation_rows, chart: _chart)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import provenance, table
from benchmarks.consolidation_chart import chart
from benchmarks.consolidation_rows import b_runs, not_run, per_model, plan_check, ran, verdict
from benchmarks.consolidation_stats import Ratio

MIB = 2**20


def choose_instance(a: dict[str, Any], prices: dict[str, Any], headroom: float) -> str:
    """The cheapest instance whose vCPUs and memory hold B's requests: what B's admission will count."""
    need_mem, need_cpu = needs(a, headroom)
    fits = [(p["sagemaker_usd_per_hour"], name) for name, p in prices["instances"].items()
            if p["memory_gib"] * 2**30 >= need_mem and p["vcpu"] >= need_cpu]  # fmt: skip
    if not fits:
        raise SystemExit(f"no instance in the price table holds {need_mem / 2**30:.1f} GiB and {need_cpu} vCPU")
    return str(min(fits)[1])


def requests(a: dict[str, Any], headroom: float) -> tuple[dict[str, dict[str, float]], int]:
    """B's requests from A's measurements: per container its peak memory and its CPU under load, x headroom
    ({hostname: {memory, cpu}}); and coserve's own reserve, the largest front door A saw, x headroom."""
    containers = a["containers"]
    front_mem = max(
        i["instance_peak_memory_bytes"] - containers[h]["peak_memory_bytes"] for h, i in a["instances"].items()
    )
    per = {h: {"memory": _mib_up(headroom * c["peak_memory_bytes"]), "cpu": round(max(headroom * c["cpu_cores"],
               0.01), 2)} for h, c in containers.items()}  # fmt: skip
    return per, _mib_up(headroom * max(front_mem, 0))


def needs(a: dict[str, Any], headroom: float) -> tuple[float, int]:
    """(memory bytes, vCPUs) that B needs: its requests plus coserve's reserve, and the summed CPU x headroom."""
    per, reserve = requests(a, headroom)
    front_cpu = max(i["coserve_cpu_cores"] for i in a["instances"].values())
    cpu = sum(r["cpu"] for r in per.values()) + headroom * front_cpu
    return sum(r["memory"] for r in per.values()) + reserve, max(2, math.ceil(cpu))


def _mib_up(n: float) -> int:
    return math.ceil(n / MIB) * MIB


def costs(doc: dict[str, Any]) -> dict[str, float]:
    prices, cfg = doc["results"]["prices"], doc["config"]
    a, b, n = prices["instances"][cfg["a_instance"]], prices["instances"][cfg["b_instance"]], len(cfg["models"])
    hours = prices["hours_per_month"]
    return {
        "sm_a": n * a["sagemaker_usd_per_hour"] * hours, "sm_b": b["sagemaker_usd_per_hour"] * hours,
        "ec2_a": n * a["ec2_usd_per_hour"] * hours, "ec2_b": b["ec2_usd_per_hour"] * hours,
    }  # fmt: skip


def _main_table(rows: list[dict[str, Any]]) -> str:
    header = ["model", "rate/s", "requests A/B", "A p50 ms", "A p99 ms", "B p50 ms", "B p99 ms", "p99 B/A [95% CI]",
              "kept", "errors A/B", "cold start A/B s", "idle MiB", "peak MiB A/B", "CPU cores A/B", "throttled B",
              "service ms A/B"]  # fmt: skip
    body = [[r["hostname"], r["rate"], f"{r['A']['n']}/{r['B']['n']}", f"{r['A']['p50']:.1f}",
             f"{r['A']['p99']:.1f}", f"{r['B']['p50']:.1f}", f"{r['B']['p99']:.1f}", _interval(r["ratio"]),
             "yes" if r["ok"] else "**no**", f"{r['A']['errors']}/{r['B']['errors']}",
             f"{r['A']['ready_s']:.1f}/{r['B']['ready_s']:.1f}", f"{r['A']['idle_mib']:.0f}",
             f"{r['A']['peak'] / MIB:.0f}/{r['B']['peak'] / MIB:.0f}",
             f"{r['A']['cpu_cores']:.3f}/{r['B']['cpu_cores']:.3f}", r["B"]["throttled"],
             f"{_ms(r['A']['service_ms'])}/{_ms(r['B']['service_ms'])}"] for r in rows]  # fmt: skip
    return table(header, body)


def _tail_table(rows: list[dict[str, Any]]) -> str:
    """Per model, B's requests above A's p99 against its other B requests: what each window held."""
    if not any(r["tail"] for r in rows):
        return "(this result has no CPU timeline: it predates the tail measurement)\n"
    header = ["model", "A p99 ms", "B above it", "CPU wait % slow/rest", "vCPUs busy % slow/rest",
              "neighbour cores slow/rest", "front door cores slow/rest", "own CPU ms slow/rest",
              "own queue % slow/rest", "cause at the tail"]  # fmt: skip
    body = []
    for r in rows:
        t = r["tail"]
        if t is None:
            continue
        s, o = t.tail, t.rest
        body.append([r["hostname"], f"{t.threshold_ms:.1f}", f"{s.n}/{s.n + o.n}", _pair(s.stall, o.stall, 100, 0),
                     _pair(s.busy, o.busy, 100, 0), _pair(s.neighbour_cores, o.neighbour_cores, 1, 2),
                     _pair(s.front_cores, o.front_cores, 1, 2), _pair(s.own_cpu_ms, o.own_cpu_ms, 1, 1),
                     _pair(s.own_queued, o.own_queued, 100, 0), t.label])  # fmt: skip
    return table(header, body)


def _pair(a: float, b: float, scale: float, digits: int) -> str:
    def one(v: float) -> str:
        return "-" if v != v else f"{v * scale:.{digits}f}"

    return f"{one(a)}/{one(b)}"


def _interval(r: Ratio) -> str:
    return f"{r.ratio:.2f} [{r.low:.2f}-{r.high:.2f}]"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _side_by_side(doc: dict[str, Any], by: dict[str, list[dict[str, Any]]]) -> str:
    """Each B variant's p99 ratio per model, and the CPU it took; variants that did not run, with why."""
    names = list(by)
    header = ["model", *(f"B {n}: p99 B/A [95% CI]" for n in names)]
    body = [[m["hostname"], *(f"{_interval(by[n][i]['ratio'])}{'' if by[n][i]['ok'] else ' **no**'}" for n in names)]
            for i, m in enumerate(doc["config"]["models"])]  # fmt: skip
    body.append(["models kept", *(f"{sum(r['ok'] for r in by[n])}/{len(by[n])}" for n in names)])
    body.append(["instance throttled (periods)", *(str(sum(b.get("instance_nr_throttled", 0) for b in b_runs(doc, n)))
                                                   for n in names)])  # fmt: skip
    missing = "".join(f"\n- B `{n}`: not applicable: {why}" for n, why in not_run(doc).items())
    return table(header, body) + "\n" + missing


def render(doc: dict[str, Any], md: Path, png: Path) -> str:
    cfg, c = doc["config"], costs(doc)
    names = ran(doc)
    by = {n: per_model(doc, n) for n in names}
    headline = names[0]
    rows = by[headline]
    b_all = b_runs(doc, headline)
    b_peak = max(b["instance_peak_memory_bytes"] for b in b_all) / MIB
    prices = doc["results"]["prices"]
    cost_rows = [["SageMaker real-time", f"{len(rows)} x {cfg['a_instance']}", f"${c['sm_a']:,.0f}",
                  f"1 x {cfg['b_instance']}", f"${c['sm_b']:,.0f}"],
                 ["EC2 (self-hosted)", f"{len(rows)} x {prices['instances'][cfg['a_instance']]['ec2']}",
                  f"${c['ec2_a']:,.0f}", f"1 x {prices['instances'][cfg['b_instance']]['ec2']}",
                  f"${c['ec2_b']:,.0f}"]]  # fmt: skip
    skipped = "".join(f"\n- kind `{k}` left out: {why}" for k, why in cfg["skipped_kinds"].items())
    admitted = _admission(b_all[0].get("admission"))
    text = "\n".join([
        f"# Consolidation cost\n\n{provenance(doc)}\n",
        f"{len(rows)} models, open-loop Poisson traffic ({rows[0]['rate']:g}-{rows[-1]['rate']:g} requests/s), "
        f"{cfg['seconds']:g} s per scenario and round, {cfg['rounds']} round(s) alternating A and B. A: each model "
        f"alone in coserve in a {cfg['a_instance']} cgroup. B: all in one coserve in a {cfg['b_instance']} cgroup "
        f"(smallest that holds its requests, A's peaks x {cfg['headroom']}; held to {b_all[0]['cgroup_cpus']:g} "
        f"CPUs on this {cfg['host_cores']}-core host{_cores(b_all[0])}), once per variant: "
        f"{', '.join(f'`{n}`' for n in names)}. "
        f"In B `{headline}` its peak was {b_peak:.0f} MiB, OOM kills {max(b['oom_kills'] for b in b_all)}."
        f"{admitted}{skipped}{_load(cfg)}\n",
        f"## B `{headline}` against A\n", _main_table(rows), "",
        "Latencies are pooled over rounds (per-round figures in the JSON); the interval is a percentile bootstrap "
        "(2,000 resamples of each side). Service ms: the container's mean time to answer (coserve's "
        "ContainerLatency); throttled: CFS periods its own cgroup hit a quota. Cold start is spawn to first `/ping` "
        "200 (B starts every container at once).\n",
        verdict(rows, c, headline), "",
        f"## B `{headline}` at the tail: what its slowest requests ran beside\n",
        "Each answered request's window (arrival to answer) is given its share of counters sampled every 5 ms "
        "during the load (benchmarks/cpu_timeline.py): the host's CPU pressure (PSI `some`: time in which at least "
        "one runnable task waited for a CPU), the instance cgroup's CPU, each container's, the front door's (the "
        "instance less its containers) and CFS throttling. `slow` are the model's B requests above A's p99, `rest` "
        "its other B requests; own queue: arrived while its own earlier request was in flight.\n",
        _tail_table(rows), "",
        "## Every B variant side by side\n", _side_by_side(doc, by),
        *(verdict(by[n], c, n) + "\n" for n in names[1:]),
        "## Does `coserve plan` reproduce B?\n", plan_check(doc), "",
        "## Cost\n", table(["hosting", "A", "A $/month", "B", "B $/month"], cost_rows), "",
        f"Prices: {prices['source']} ({prices['region']}, {prices['hours_per_month']} h a month).\n",
    ])  # fmt: skip
    if chart(by, c, png):
        text += f"\n![consolidation]({png.name})\n"
    md.write_text(text)
    return text


def _cores(b: dict[str, Any]) -> str:
    cores = b.get("cgroup_cores")
    return f", pinned to cores {','.join(map(str, cores))}" if cores else ""


def _load(cfg: dict[str, Any]) -> str:
    """The machine is shared: how busy it was at the end too (the start is in the provenance line)."""
    end = cfg.get("loadavg_at_end")
    return f" Load average at the end: {end[0]}." if end else ""


def _admission(host: dict[str, Any] | None) -> str:
    """B's ledger as coserve reported it: requests (each container's A peak x headroom) against the instance."""
    if not host:
        return ""
    return (f" B's containers requested {(host['reserved_bytes'] - host['reserve_bytes']) / MIB:.0f} MiB (A's peaks "
            f"x headroom) + {host['reserve_bytes'] / MIB:.0f} MiB reserve for coserve, of "
            f"{host['capacity_bytes'] / MIB:.0f} MiB ({host['free_bytes'] / MIB:.0f} MiB free); their limits "
            f"add up to {host['limits_bytes'] / MIB:.0f} MiB, overcommitting it by "
            f"{host['overcommit_bytes'] / MIB:.0f} MiB.")  # fmt: skip


if __name__ == "__main__":  # python -m benchmarks.consolidation_report RESULT.json: (re)write its .md and .png
    result = Path(sys.argv[1])
    print(render(json.loads(result.read_text()), result.with_suffix(".md"), result.with_suffix(".png")))
