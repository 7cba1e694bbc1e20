"""What the supervisor is given to run (a Unit), and what it says back about each (a ContainerStatus).

The supervisor knows no endpoints: a unit's key names its endpoint only so the layer above can group the
routes it publishes. `deployment_units` is that layer for the deployment file's first generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.config import ContainerSpec, Deployment
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.states import State


@dataclass(frozen=True)
class Unit:
    key: ContainerKey
    spec: ContainerSpec
    log_path: Path  # its output and its lifecycle lines
    block: int | None = None  # the port block it must have (PortBase + block x PortBlock); None: the lowest free
    # Its own bounds, from its endpoint (runtime.control.desired); None: the host's.
    startup_timeout_s: float | None = None  # spawn to first /ping 200 (None: Coserve.Server.StartupTimeout)
    fetch_timeout_s: float | None = None  # its fetch step, artifacts and all (None: unbounded, as ever)

    def __post_init__(self) -> None:
        if self.key.hostname != self.spec.hostname:
            raise ValueError(f"unit {self.key}: the key's hostname is not the spec's ({self.spec.hostname})")


@dataclass(frozen=True)
class ContainerStatus:
    """One container as the supervisor sees it now, for a routing table above it."""

    key: ContainerKey
    hostname: str
    port: int  # SAGEMAKER_BIND_TO_PORT on 127.0.0.1
    state: State
    log_path: Path


def deployment_units(d: Deployment, generation: int = 1) -> tuple[Unit, ...]:
    """The file's containers; its first generation on today's ports (`ServerSettings.container_port(index)`)."""
    return tuple(
        Unit(ContainerKey(d.endpoint_name, generation, c.hostname), c, d.server.container_log(c.hostname),
             c.index if generation == 1 else None)
        for c in d.containers
    )  # fmt: skip
