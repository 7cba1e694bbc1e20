"""What the advisor reads (one Workload per model) and what it answers (a Plan)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.cli.plan.sizing import Sizing


@dataclass(frozen=True)
class Workload:
    name: str
    memory_bytes: int  # peak memory of the model's server
    cpus: float  # peak CPU, in cores
    rps: float | None = None  # requests per second, where known
    p99_ms: float | None = None  # observed p99 latency
    p99_budget_ms: float | None = None  # the p99 it must keep
    instance_type: str | None = None  # where it runs today (one endpoint per model); None: the smallest that holds it
    instance_count: int = 1
    gpu: bool = False  # needs an accelerator
    cpu_limit: float | None = None  # its CPU quota (Cpus) today, where the input says; None: shared by weight


@dataclass(frozen=True)
class Placement:
    instance: str  # SageMaker type
    ec2: str
    models: tuple[str, ...]
    memory_bytes: int  # the models' peaks plus coserve's own reserve
    cpus: float
    memory_capacity_bytes: int
    vcpu: int
    memory_headroom: float  # fraction of the instance's memory left at peak
    cpu_headroom: float
    sagemaker_usd_month: float
    ec2_usd_month: float
    containers: tuple[Sizing, ...] = ()  # each model's requests and limits on this instance, as --emit writes them


@dataclass(frozen=True)
class Excluded:
    name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    placements: tuple[Placement, ...]
    excluded: tuple[Excluded, ...]  # left where they are, each with why
    before_sagemaker_usd_month: float  # one endpoint per model (every model priced)
    before_ec2_usd_month: float
    after_sagemaker_usd_month: float  # the placements plus the excluded models where they are
    after_ec2_usd_month: float
    unpriced: tuple[str, ...]  # models whose current instance type is not in the table: in neither total
    headroom: float
    source: str  # where the prices come from
    memory_reserve_bytes: int = 256 * 2**20  # Coserve.Server.MemoryReserve: kept back for coserve itself

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)
