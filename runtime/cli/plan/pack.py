"""First-fit decreasing on memory, CPU as the second dimension, then each bin right-sized.

For every instance type in the table as the bin size: sort the models by peak memory (then CPU),
largest first; put each in the first bin where both its memory and its CPU fit, else open a bin.
Each bin then moves to the cheapest instance type that holds what landed in it (or, where that costs
more than its models would alone, they go one per instance). The cheapest
result (SageMaker $/month; then fewer instances) is the plan. A bin's capacity is the instance's
memory and vCPUs less the headroom, less coserve's own share (its reserve, and the front door's
CPU per request).

Not co-located, each with its reason: a model on an accelerated instance type (coserve packs CPU
models), one whose observed p99 leaves less than the latency margin to its p99 budget (contention
would break it), and one that no instance in the table holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runtime.cli.plan.catalog import Catalog, Instance, is_accelerated
from runtime.cli.plan.model import Excluded, Placement, Plan, Workload
from runtime.cli.plan.sizing import hostnames, size_container
from runtime.units import format_size


@dataclass(frozen=True)
class Policy:
    headroom: float = 0.2  # fraction of each instance's memory and vCPUs kept free at the models' peaks
    reserve_memory_bytes: int = 256 * 2**20  # coserve itself (front door and supervisor) per instance
    reserve_cpus: float = 0.1
    cpu_per_request: float = 0.0002  # the front door's CPU seconds per request (measured ~0.17 ms), per model
    latency_margin: float = 0.10  # a model whose p99 x (1 + margin) passes its budget stays alone


@dataclass
class _Bin:
    items: list[Workload]
    memory: int
    cpus: float


def make_plan(workloads: Sequence[Workload], catalog: Catalog, policy: Policy = Policy()) -> Plan:
    excluded, placeable = _exclusions(workloads, catalog, policy)
    placements = _best_packing(placeable, catalog, policy)
    before, unpriced = _before(workloads, catalog, policy)
    kept = [before[e.name] for e in excluded if e.name in before]
    hours = catalog.hours_per_month
    return Plan(
        placements=placements, excluded=tuple(excluded),
        before_sagemaker_usd_month=round(sum(i.sagemaker_usd_per_hour * n for i, n in before.values()) * hours, 2),
        before_ec2_usd_month=round(sum(i.ec2_usd_per_hour * n for i, n in before.values()) * hours, 2),
        after_sagemaker_usd_month=round(sum(p.sagemaker_usd_month for p in placements)
                                        + sum(i.sagemaker_usd_per_hour * n for i, n in kept) * hours, 2),
        after_ec2_usd_month=round(sum(p.ec2_usd_month for p in placements)
                                  + sum(i.ec2_usd_per_hour * n for i, n in kept) * hours, 2),
        unpriced=tuple(unpriced), headroom=policy.headroom, source=catalog.source,
        memory_reserve_bytes=policy.reserve_memory_bytes,
    )  # fmt: skip


def demand(w: Workload, policy: Policy) -> tuple[int, float]:
    """What one model takes from a bin: its peak memory, its peak CPU plus the front door's share."""
    return w.memory_bytes, w.cpus + (w.rps or 0.0) * policy.cpu_per_request


def capacity(i: Instance, policy: Policy) -> tuple[int, float]:
    free = 1.0 - policy.headroom
    return int(i.memory_bytes * free) - policy.reserve_memory_bytes, i.vcpu * free - policy.reserve_cpus


def _holds(i: Instance, memory: int, cpus: float, policy: Policy) -> bool:
    cap_memory, cap_cpus = capacity(i, policy)
    return memory <= cap_memory and cpus <= cap_cpus + 1e-9


def _cheapest_holding(catalog: Catalog, memory: int, cpus: float, policy: Policy) -> Instance | None:
    fits = [i for i in catalog.instances if not is_accelerated(i.name) and _holds(i, memory, cpus, policy)]
    return min(fits, key=lambda i: (i.sagemaker_usd_per_hour, i.ec2_usd_per_hour, i.name), default=None)


def _exclusions(ws: Iterable[Workload], catalog: Catalog, policy: Policy) -> tuple[list[Excluded], list[Workload]]:
    excluded: list[Excluded] = []
    placeable: list[Workload] = []
    for w in ws:
        reason = _reason(w, catalog, policy)
        if reason is None:
            placeable.append(w)
        else:
            excluded.append(Excluded(w.name, reason))
    return excluded, placeable


def _reason(w: Workload, catalog: Catalog, policy: Policy) -> str | None:
    if w.gpu or (w.instance_type is not None and is_accelerated(w.instance_type)):
        return f"needs an accelerator ({w.instance_type or 'Gpu: true'}): coserve packs CPU models; keep its endpoint"
    if (
        w.p99_budget_ms is not None
        and w.p99_ms is not None
        and w.p99_ms * (1 + policy.latency_margin) > w.p99_budget_ms
    ):
        return (f"p99 budget: observed p99 {w.p99_ms:g} ms leaves less than {policy.latency_margin:.0%} to its "
                f"{w.p99_budget_ms:g} ms budget; contention on a shared host would break it")  # fmt: skip
    memory, cpus = demand(w, policy)
    if _cheapest_holding(catalog, memory, cpus, policy) is None:
        return (f"memory/CPU: peak {format_size(memory)} and {cpus:.2f} cores with {policy.headroom:.0%} headroom "
                "fit no instance type in the price table")  # fmt: skip
    return None


def first_fit_decreasing(ws: Sequence[Workload], memory: int, cpus: float, policy: Policy) -> list[list[Workload]]:
    """Bins of at most `memory` bytes and `cpus` cores; every workload must fit an empty bin (checked)."""
    bins: list[_Bin] = []
    for w in sorted(ws, key=lambda w: (-demand(w, policy)[0], -demand(w, policy)[1], w.name)):
        m, c = demand(w, policy)
        if m > memory or c > cpus + 1e-9:
            raise ValueError(f"{w.name}: {m} bytes, {c} cores do not fit an empty bin ({memory}, {cpus})")
        target = next((b for b in bins if b.memory + m <= memory and b.cpus + c <= cpus + 1e-9), None)
        if target is None:
            bins.append(_Bin([], 0, 0.0))
            target = bins[-1]
        target.items.append(w)
        target.memory, target.cpus = target.memory + m, target.cpus + c
    return [b.items for b in bins]


def _best_packing(ws: Sequence[Workload], catalog: Catalog, policy: Policy) -> tuple[Placement, ...]:
    best: tuple[Placement, ...] = ()
    best_key: tuple[float, int, str] | None = None
    for size in (i for i in catalog.instances if not is_accelerated(i.name)):
        memory, cpus = capacity(size, policy)
        if not ws or any(demand(w, policy)[0] > memory or demand(w, policy)[1] > cpus + 1e-9 for w in ws):
            continue
        bins = _split_dearer(first_fit_decreasing(ws, memory, cpus, policy), catalog, policy)
        placements = tuple(_placement(b, catalog, policy) for b in bins)
        key = (round(sum(p.sagemaker_usd_month for p in placements), 6), len(placements), size.name)
        if best_key is None or key < best_key:
            best, best_key = placements, key
    return best


def _split_dearer(bins: list[list[Workload]], catalog: Catalog, policy: Policy) -> list[list[Workload]]:
    """A bin whose instance costs more than its models would alone (small models that together need a big
    instance) is no saving: those models go one per instance instead."""
    out: list[list[Workload]] = []
    for items in bins:
        together = _price(catalog, items, policy)
        alone = sum(_price(catalog, [w], policy) for w in items)
        out += [[w] for w in items] if together > alone + 1e-9 else [items]
    return out


def _price(catalog: Catalog, items: list[Workload], policy: Policy) -> float:
    i = _cheapest_holding(catalog, sum(demand(w, policy)[0] for w in items), sum(demand(w, policy)[1] for w in items),
                          policy)  # fmt: skip
    assert i is not None, "the bin fit the instance it was packed for"
    return i.sagemaker_usd_per_hour


def _placement(items: list[Workload], catalog: Catalog, policy: Policy) -> Placement:
    memory = sum(demand(w, policy)[0] for w in items)
    cpus = sum(demand(w, policy)[1] for w in items)
    i = _cheapest_holding(catalog, memory, cpus, policy)
    assert i is not None, "the bin fit the instance it was packed for"
    used_memory, used_cpus = memory + policy.reserve_memory_bytes, cpus + policy.reserve_cpus
    hours = catalog.hours_per_month
    return Placement(
        instance=i.name, ec2=i.ec2, models=tuple(w.name for w in items), memory_bytes=used_memory,
        cpus=round(used_cpus, 3), memory_capacity_bytes=i.memory_bytes, vcpu=i.vcpu,
        memory_headroom=round(1 - used_memory / i.memory_bytes, 3), cpu_headroom=round(1 - used_cpus / i.vcpu, 3),
        sagemaker_usd_month=round(i.sagemaker_usd_per_hour * hours, 2),
        ec2_usd_month=round(i.ec2_usd_per_hour * hours, 2),
        containers=tuple(size_container(w, h, i, policy.headroom, policy.reserve_memory_bytes)
                         for w, h in zip(items, hostnames([w.name for w in items]), strict=True)),
    )  # fmt: skip


def _before(
    ws: Iterable[Workload], catalog: Catalog, policy: Policy
) -> tuple[dict[str, tuple[Instance, int]], list[str]]:
    """Each model's instance today (given, or the cheapest that holds it alone), and those the table cannot price."""
    priced: dict[str, tuple[Instance, int]] = {}
    unpriced: list[str] = []
    for w in ws:
        if w.instance_type:
            i = catalog.get(w.instance_type)
        else:  # a GPU model's own endpoint is no CPU instance: the table cannot price it
            i = None if w.gpu else _cheapest_holding(catalog, *demand(w, policy), policy)
        if i is None:
            unpriced.append(w.name)
        else:
            priced[w.name] = (i, w.instance_count)
    return priced, unpriced
