"""What every operation works with: the store, the ARN builder, the host's limits and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.components.capacity import Published
from runtime.control.arns import Arns
from runtime.control.errors import ResourceLimitExceeded
from runtime.control.state import StateStore


@dataclass(frozen=True)
class HostLimits:
    """How many of each a host keeps. Memory and CPUs are admission's to judge; these bound the bookkeeping."""

    max_models: int = 1000
    max_endpoint_configs: int = 1000
    max_endpoints: int = 100


@dataclass(frozen=True)
class Context:
    store: StateStore
    arns: Arns = field(default_factory=Arns)
    limits: HostLimits = field(default_factory=HostLimits)
    # What the host can still reserve, as its supervisor last published it (None: nothing to judge components by).
    capacity: Callable[[], Published | None] = lambda: None


def over_limit(what: str, limit: int, used: int) -> ResourceLimitExceeded:
    return ResourceLimitExceeded(
        f"The host-level limit '{what}' is {limit}, with current utilization of {used} and a request delta of 1. "
        "Delete some first: the host-level limits are fixed in this version of coserve."
    )
