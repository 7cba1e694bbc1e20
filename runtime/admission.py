"""Admission: do the containers' requests fit what this host, or coserve's own cgroup, holds?

A request (`MemoryRequest`, `CpuRequest`) is what admission sets aside for a container; a limit (`Memory`,
`Cpus`) is what its cgroup enforces. Requests must fit the capacity less a reserve for coserve itself;
limits may add up to more (overcommit), and the ledger says by how much.

When overcommitted limits meet real pressure, the kernel picks who loses memory, and coserve tells it
whom: `oom_score_adj` below ranks containers by how far they are above their request, and puts every
container before coserve itself. Pure: capacities come in as numbers, so each rule has a unit test.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from runtime.config import ContainerSpec, Deployment
from runtime.units import format_size

RESERVE_KEY = "Coserve.Server.MemoryReserve"


class AdmissionError(ValueError):
    """The requests do not fit; the message names every number."""


@dataclass(frozen=True)
class Capacity:
    memory_bytes: int
    memory_source: str  # "host memory", or "the memory limit of coserve's own cgroup"
    cpus: float
    cpu_source: str  # "host CPUs", or "the CPU quota of coserve's own cgroup"


@dataclass(frozen=True)
class Need:
    """One container, as admission sees it. None: not requested (or not limited)."""

    hostname: str
    memory_request_bytes: int | None
    memory_limit_bytes: int | None
    cpu_request: float | None
    key: str = ""  # the container's unique name (ContainerKey.name) where containers come and go at run time

    @classmethod
    def of(cls, spec: ContainerSpec, key: str = "") -> Need:
        lim = spec.limits
        return cls(spec.hostname, lim.memory_request_bytes, lim.memory_bytes, lim.cpu_request, key)


@dataclass(frozen=True)
class Ledger:
    """What admission set aside against what there is."""

    capacity: Capacity
    reserve_bytes: int  # kept back for coserve itself
    needs: tuple[Need, ...]

    @property
    def requested_bytes(self) -> int:
        return sum(n.memory_request_bytes or 0 for n in self.needs)

    @property
    def reserved_bytes(self) -> int:
        """The containers' requests plus coserve's own reserve."""
        return self.requested_bytes + self.reserve_bytes

    @property
    def free_bytes(self) -> int:
        """What a further request could still get; negative when the requests do not fit."""
        return self.capacity.memory_bytes - self.reserved_bytes

    @property
    def limits_bytes(self) -> int:
        return sum(n.memory_limit_bytes or 0 for n in self.needs)

    @property
    def unlimited(self) -> tuple[str, ...]:
        """Containers without a memory limit: each may use whatever is left."""
        return tuple(n.hostname for n in self.needs if n.memory_limit_bytes is None)

    @property
    def overcommit_bytes(self) -> int:
        """How far the limits (plus the reserve) pass the capacity; 0 when every limit can be met at once."""
        return max(0, self.limits_bytes + self.reserve_bytes - self.capacity.memory_bytes)

    @property
    def cpu_requested(self) -> float:
        return sum(n.cpu_request or 0.0 for n in self.needs)

    def refusal(self) -> str | None:
        """Why the requests do not fit, naming needed, capacity, reserve and free; None when they do."""
        problems = []
        if self.free_bytes < 0:
            each = ", ".join(f"{self._label(n)} {format_size(n.memory_request_bytes or 0)}" for n in self._requesting())
            problems.append(
                f"memory requests need {format_size(self.requested_bytes)} ({each}), but capacity is "
                f"{format_size(self.capacity.memory_bytes)} ({self.capacity.memory_source}), reserve "
                f"{format_size(self.reserve_bytes)} ({RESERVE_KEY}, for coserve itself), free "
                f"{format_size(max(0, self.capacity.memory_bytes - self.reserve_bytes))}"
            )
        if self.cpu_requested > self.capacity.cpus + 1e-9:
            each = ", ".join(f"{self._label(n)} {n.cpu_request:g}" for n in self.needs if n.cpu_request)
            problems.append(
                f"CPU requests need {self.cpu_requested:g} cores ({each}), but capacity is "
                f"{self.capacity.cpus:g} cores ({self.capacity.cpu_source})"
            )
        return "; ".join(problems) or None

    def summary(self) -> str:
        """One log line: reserved versus free, and the overcommit of the limits."""
        text = (
            f"memory: requests {format_size(self.requested_bytes)} + reserve {format_size(self.reserve_bytes)} "
            f"of {format_size(self.capacity.memory_bytes)} ({self.capacity.memory_source}), "
            f"free {format_size(max(self.free_bytes, 0))}; limits {format_size(self.limits_bytes)}"
        )
        if self.overcommit_bytes:
            text += f" overcommit it by {format_size(self.overcommit_bytes)}"
        if self.unlimited:
            text += f"; no limit: {', '.join(self.unlimited)}"
        return text + f"; CPU: requests {self.cpu_requested:g} of {self.capacity.cpus:g} cores"

    def admitted(self, needs: Iterable[Need]) -> Ledger:
        """This ledger with `needs` set aside as well; AdmissionError, naming them, when they do not fit."""
        have = {n.key for n in self.needs}
        more = tuple(n for n in needs if not n.key or n.key not in have)
        book = replace(self, needs=self.needs + more)
        problem = book.refusal() if more else None
        if problem is not None:
            raise AdmissionError(f"{', '.join(n.key or n.hostname for n in more)} do not fit: {problem}")
        return book

    def released(self, keys: Collection[str]) -> Ledger:
        """This ledger without the needs of the containers named `keys`: they are gone."""
        return replace(self, needs=tuple(n for n in self.needs if n.key not in keys))

    def oom_score_adj(self, need: Need) -> int:
        return oom_score_adj(need.memory_request_bytes, self.capacity.memory_bytes)

    def _label(self, need: Need) -> str:
        """Its hostname; its key where two containers share the hostname (generations side by side)."""
        same = sum(n.hostname == need.hostname for n in self.needs)
        return need.key if same > 1 and need.key else need.hostname

    def _requesting(self) -> Iterable[Need]:
        return (n for n in self.needs if n.memory_request_bytes)


def oom_score_adj(request_bytes: int | None, capacity_bytes: int) -> int:
    """1000 - 1000 x request / capacity, within 1..1000.

    The kernel's OOM badness of a process is its memory plus adj/1000 of the memory the OOM is about
    (the limit that was hit). With this adj that is about (use - request) + capacity: among containers
    the one furthest above its request goes first, and every container goes before coserve itself
    (adj 0). No request: 1000, first to go. Kubernetes ranks its burstable pods the same way."""
    if not request_bytes or capacity_bytes <= 0:
        return 1000
    return max(1, min(1000, 1000 - (1000 * request_bytes) // capacity_bytes))


def ledger(d: Deployment, capacity: Capacity, keys: Iterable[str] | None = None) -> Ledger:
    """`keys`: each container's unique name, in Containers order, where they are admitted one set at a time."""
    names = list(keys) if keys is not None else [""] * len(d.containers)
    needs = tuple(Need.of(c, k) for c, k in zip(d.containers, names, strict=True))
    return Ledger(capacity, d.server.memory_reserve_bytes, needs)


def admit(d: Deployment, capacity: Capacity, keys: Iterable[str] | None = None) -> Ledger:
    """The ledger of `d` on `capacity`; AdmissionError when the requests do not fit."""
    book = ledger(d, capacity, keys)
    problem = book.refusal()
    if problem is not None:
        raise AdmissionError(problem)
    return book
