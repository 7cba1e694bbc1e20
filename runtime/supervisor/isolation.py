"""The isolation seam: how a container's argv is wrapped, and how its whole tree is ended.

The supervisor asks; the backend (cgroups, a private mount namespace, or nothing) decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from runtime.config import ContainerSpec

Mounts = tuple[tuple[Path, Path], ...]  # (host directory, where the container sees it)


class Isolation(Protocol):
    kind: str
    """The cgroup backend: v2 | v1 | none (a container engine places its processes by it)."""

    def prepare(self, spec: ContainerSpec) -> None:
        """Create what the container will run in (its cgroup), once, before its first start."""
        ...

    def model_path(self, model_dir: Path) -> Path:
        """Where the container sees its model: /opt/ml/model in a private mount, else the real dir."""
        ...

    def view(self, host: Path, target: Path) -> Path:
        """Where the container sees the host directory `host`: `target` when wrap() mounts it there."""
        ...

    def wrap(self, spec: ContainerSpec, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        """The argv that runs `argv` inside the container's isolation from its first instruction,
        with `model_dir` and each (host, target) of `more` read-only at its target where it can.

        `model_dir` None: no private mounts at all (a container engine mounts the model and `more` itself)."""
        ...

    def attach(self, spec: ContainerSpec, pid: int) -> None:
        """The pid the supervisor spawned, for backends that find a container by its process tree."""
        ...

    def kill(self, spec: ContainerSpec) -> None:
        """SIGKILL everything left in the container, even processes that left its process group."""
        ...

    def exit_note(self, spec: ContainerSpec) -> str | None:
        """Why the last exit happened, when the backend knows better than the wait status (OOM)."""
        ...

    def close(self) -> None:
        """Remove everything prepare() created."""
        ...


class ProcessGroupOnly:
    """No cgroups, no mount namespace: each container is only its own process group."""

    kind = "none"

    def prepare(self, spec: ContainerSpec) -> None:
        pass

    def model_path(self, model_dir: Path) -> Path:
        return model_dir

    def view(self, host: Path, target: Path) -> Path:
        return host

    def wrap(self, spec: ContainerSpec, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        return argv

    def attach(self, spec: ContainerSpec, pid: int) -> None:
        pass

    def kill(self, spec: ContainerSpec) -> None:
        pass  # the supervisor's SIGKILL to the process group is all there is

    def exit_note(self, spec: ContainerSpec) -> str | None:
        return None

    def close(self) -> None:
        pass
