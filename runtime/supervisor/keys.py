"""Typed keys: which container (of which endpoint and generation), and which piece of work about it.

Dependency-free, as states.py. A key names one container for its whole life in the supervisor; its
hostname is only what the container sees and what routing uses, so two generations of one endpoint may
run the same hostnames side by side under different keys.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

_MAX_NAME = 64  # a cgroup directory name (runtime.cgroups.api.check_name)


@dataclass(frozen=True, order=True)
class ContainerKey:
    endpoint: str  # EndpointName: no dots in it (SageMaker's name pattern), so the dotted name is unambiguous
    generation: int  # 1 for an endpoint's first set of containers; each UpdateEndpoint adds one
    hostname: str  # ContainerHostname

    @property
    def name(self) -> str:
        """A flat name for the cgroup, the run dir and the admission ledger: `<endpoint>.<generation>.<hostname>`,
        hashed short where that would pass a cgroup name's 64 characters."""
        full = f"{self.endpoint}.{self.generation}.{self.hostname}"
        if len(full) <= _MAX_NAME:
            return full
        digest = hashlib.sha256(full.encode()).hexdigest()[:16]
        return f"{self.hostname[: _MAX_NAME - 19]}.{self.generation % 10}.{digest}"[:_MAX_NAME]

    @property
    def storage_name(self) -> str:
        """The model directory's name in the shared cache: the first generation's is what it always was."""
        if self.generation == 1:
            return f"{self.endpoint}--{self.hostname}"
        return f"{self.endpoint}.{self.generation}--{self.hostname}"

    def __str__(self) -> str:
        return f"{self.endpoint}/{self.generation}/{self.hostname}"


class WorkKind(enum.Enum):
    FETCH = "fetch"  # the artifact fetched and laid out (runtime.models)
    PROBE = "probe"  # one readiness probe


@dataclass(frozen=True)
class WorkKey:
    kind: WorkKind
    container: ContainerKey

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.container}"
