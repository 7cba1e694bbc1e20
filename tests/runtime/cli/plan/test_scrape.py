"""`coserve plan --url`'s reading of /metrics: one workload per container (endpoint, hostname, generation),
from hand-made /metrics text in the shape runtime.metrics exposes (no coserve needs to run for it)."""

from __future__ import annotations

import io
import json

from rich.console import Console

from runtime.cli.plan import Policy, load_catalog, make_plan
from runtime.cli.plan.render import render
from runtime.cli.plan.scrape import workloads_from_texts

MIB = 2**20


def _container(endpoint: str, host: str, generation: int, memory_mib: int, cpu_percent: float) -> str:
    labels = f'endpoint="{endpoint}",variant="v",container="{host}",generation="{generation}"'
    return (f"coserve_container_memory_bytes{{{labels}}} {memory_mib * MIB}\n"
            f"coserve_container_cpu_utilization_percent{{{labels}}} {cpu_percent}\n")  # fmt: skip


def _requests(endpoint: str, host: str, count: int, under_ms: int) -> str:
    """The router's series: per endpoint and hostname, no generation; every request under `under_ms`."""
    labels = f'endpoint="{endpoint}",variant="v",container="{host}"'
    return (f"coserve_invocations_total{{{labels}}} {count}\n"
            f'coserve_container_latency_microseconds_bucket{{{labels},le="{under_ms * 1000}.0"}} {count}\n'
            f'coserve_container_latency_microseconds_bucket{{{labels},le="+Inf"}} {count}\n'
            f"coserve_container_latency_microseconds_count{{{labels}}} {count}\n"
            f"coserve_container_latency_microseconds_sum{{{labels}}} {count}\n")  # fmt: skip


def test_one_hostname_on_two_endpoints_is_two_workloads_named_by_endpoint() -> None:
    first = _container("churn", "model", 1, 300, 20) + _container("fraud", "model", 1, 700, 50)
    first += _container("churn", "solo", 1, 100, 5) + _requests("churn", "model", 10, 10)
    first += _requests("fraud", "model", 100, 50) + _requests("churn", "solo", 0, 10)
    last = first.replace(" 10\n", " 30\n").replace(" 100\n", " 140\n")  # 20 and 40 requests in 2 s
    by_name = {w.name: w for w in workloads_from_texts([(0.0, first), (2.0, last)])}
    assert sorted(by_name) == ["churn/model", "fraud/model", "solo"]  # a unique hostname keeps its name
    churn, fraud = by_name["churn/model"], by_name["fraud/model"]
    assert (churn.memory_bytes, churn.cpus, fraud.memory_bytes, fraud.cpus) == (300 * MIB, 0.2, 700 * MIB, 0.5)
    assert (churn.rps, fraud.rps, by_name["solo"].rps) == (10.0, 20.0, 0.0)
    assert churn.p99_ms is not None and fraud.p99_ms is not None and churn.p99_ms <= 10 < fraud.p99_ms <= 50
    plan = make_plan(list(by_name.values()), load_catalog(), Policy())
    placed = [m for p in json.loads(plan.to_json())["placements"] for m in p["models"]]
    assert sorted(placed) == ["churn/model", "fraud/model", "solo"]
    hostnames = [s["hostname"] for p in json.loads(plan.to_json())["placements"] for s in p["containers"]]
    assert sorted(hostnames) == ["churn-model", "fraud-model", "solo"]  # what --emit writes: one each
    table = io.StringIO()
    Console(file=table, width=300).print(render(plan))
    assert "churn/model" in table.getvalue() and "fraud/model" in table.getvalue()


def test_two_generations_during_an_update_are_two_workloads_and_the_newest_carries_the_requests() -> None:
    text = _container("churn", "model", 1, 300, 20) + _container("churn", "model", 2, 400, 30)
    text += _requests("churn", "model", 10, 10)
    first, last = text, text.replace(" 10\n", " 16\n")
    by_name = {w.name: w for w in workloads_from_texts([(0.0, first), (2.0, last)])}
    old, new = by_name["churn/model (generation 1)"], by_name["churn/model (generation 2)"]
    assert sorted(by_name) == ["churn/model (generation 1)", "churn/model (generation 2)"]
    assert (old.memory_bytes, new.memory_bytes, old.cpus, new.cpus) == (300 * MIB, 400 * MIB, 0.2, 0.3)
    assert (old.rps, old.p99_ms, new.rps) == (None, None, 3.0)  # the router does not count per generation
    assert new.p99_ms is not None and new.p99_ms <= 10


def test_a_hostname_only_the_router_names_is_still_a_workload_of_its_requests() -> None:
    text = _container("churn", "model", 1, 300, 20) + _requests("churn", "model", 5, 10)
    text += _requests("churn", "starting", 0, 10)  # no supervisor sample of it yet
    by_name = {w.name: w for w in workloads_from_texts([(0.0, text)])}
    assert sorted(by_name) == ["model", "starting"]
    assert (by_name["model"].memory_bytes, by_name["starting"].memory_bytes) == (300 * MIB, 0)
