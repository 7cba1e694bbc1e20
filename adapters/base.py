"""What an adapter declares about its model server. Adapters never spawn, signal or touch cgroups."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Launch:
    """Everything the supervisor has decided about one start of one container."""

    hostname: str
    bind_port: int  # SAGEMAKER_BIND_TO_PORT
    safe_ports: tuple[int, int]  # SAGEMAKER_SAFE_PORT_RANGE, inclusive, disjoint from every other container's
    model_dir: Path  # the unpacked artifact, read-only (or /opt/ml/model inside a private mount namespace)
    work_dir: Path  # private and writable: temp files, server state
    environment: Mapping[str, str]  # the container's Environment, verbatim
    command: tuple[str, ...] | None  # Coserve.Containers.<hostname>.Command
    memory_limit: int | None  # bytes, for servers that size their heaps
    cpu_allotment: float | None = None  # cores it may count on (adapters.threads), for servers that size pools
    python: str = sys.executable  # the interpreter for Python servers: coserve's, or one with requirements.txt
    image: str = ""  # the Image field as written (an OCI reference for images run through podman)
    endpoint: str = ""  # EndpointName, for names that must be unique on the host (podman containers)
    generation: int = 1  # the endpoint's set of containers it belongs to: an update runs a new one beside the old
    cgroups: str = "none"  # the cgroup backend the supervisor runs it under: v2 | v1 | none
    mounts: tuple[tuple[Path, Path], ...] = ()  # more read-only host directories, each at its target


class Adapter(Protocol):
    name: str
    safe_ports_needed: int  # ports it takes from SAGEMAKER_SAFE_PORT_RANGE, checked against PortBlock at start

    def check(self, command: tuple[str, ...] | None) -> list[str]:
        """Config-time problems with the container's settings, each a short rule."""
        ...

    def command(self, launch: Launch) -> list[str]:
        """The argv that starts the server."""
        ...

    def environment(self, launch: Launch) -> dict[str, str]:
        """Variables added to the container's own Environment (which wins over these)."""
        ...

    def readiness_url(self, launch: Launch) -> str:
        """What the supervisor GETs to learn the server is ready (and, later, still healthy)."""
        ...

    def ready(self, status: int, body: bytes) -> bool:
        """Whether the answer from readiness_url means the server can take requests."""
        ...


@runtime_checkable
class ContainerEngine(Protocol):
    """An adapter whose command runs a container engine (podman) rather than the server itself.

    The engine mounts the model at /opt/ml/model inside its container, so the supervisor gives it the
    real model directory and no private mount namespace of its own. What the engine keeps outside the
    processes (its container record, mounts, network) is removed by `cleanup_command`, which the
    supervisor runs after every exit, outside the container's cgroup."""

    def cleanup_command(self, launch: Launch) -> list[str]: ...


def contract_environment(launch: Launch) -> dict[str, str]:
    """The SageMaker container contract's variables, plus where the model lies."""
    lo, hi = launch.safe_ports
    return {
        "SAGEMAKER_BIND_TO_PORT": str(launch.bind_port),
        "SAGEMAKER_SAFE_PORT_RANGE": f"{lo}-{hi}",
        "SM_MODEL_DIR": str(launch.model_dir),
        "COSERVE_MODEL_DIR": str(launch.model_dir),
        "COSERVE_CONTAINER_HOSTNAME": launch.hostname,
        "COSERVE_PYTHON": launch.python,  # coserve's interpreter, or its environment with code/requirements.txt
        "TMPDIR": str(launch.work_dir / "tmp"),
    }
