"""The isolation seam: how a container's argv is wrapped, and how its whole tree is ended.

The supervisor asks; the backend (cgroups, a private mount namespace, or nothing) decides. Everything is
per unit (keyed by its ContainerKey), so containers can be added and released on a running host.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from runtime.supervisor.units import Unit

Mounts = tuple[tuple[Path, Path], ...]  # (host directory, where the container sees it)


class Isolation(Protocol):
    kind: str
    """The cgroup backend: v2 | v1 | none (a container engine places its processes by it)."""

    def admit(self, units: Sequence[Unit]) -> None:
        """Set aside what the units request, all or none; a ValueError naming the units and the numbers
        when they do not fit. A unit admitted already is not counted twice."""
        ...

    def prepare(self, unit: Unit) -> None:
        """Create what the container will run in (its cgroup), once, before its first start."""
        ...

    def model_path(self, model_dir: Path) -> Path:
        """Where the container sees its model: /opt/ml/model in a private mount, else the real dir."""
        ...

    def view(self, host: Path, target: Path) -> Path:
        """Where the container sees the host directory `host`: `target` when wrap() mounts it there."""
        ...

    def wrap(self, unit: Unit, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        """The argv that runs `argv` inside the container's isolation from its first instruction,
        with `model_dir` and each (host, target) of `more` read-only at its target where it can.

        `model_dir` None: no private mounts at all (a container engine mounts the model and `more` itself)."""
        ...

    def attach(self, unit: Unit, pid: int) -> None:
        """The pid the supervisor spawned, for backends that find a container by its process tree."""
        ...

    def kill(self, unit: Unit) -> None:
        """SIGKILL everything left in the container, even processes that left its process group."""
        ...

    def exit_note(self, unit: Unit) -> str | None:
        """Why the last exit happened, when the backend knows better than the wait status (OOM)."""
        ...

    def release(self, unit: Unit) -> None:
        """Remove what prepare() created for it and give back what admit() set aside: it is gone."""
        ...

    def close(self) -> None:
        """Remove everything prepare() created."""
        ...


class ProcessGroupOnly:
    """No cgroups, no mount namespace, no admission: each container is only its own process group."""

    kind = "none"

    def admit(self, units: Sequence[Unit]) -> None:
        pass

    def prepare(self, unit: Unit) -> None:
        pass

    def model_path(self, model_dir: Path) -> Path:
        return model_dir

    def view(self, host: Path, target: Path) -> Path:
        return host

    def wrap(self, unit: Unit, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        return argv

    def attach(self, unit: Unit, pid: int) -> None:
        pass

    def kill(self, unit: Unit) -> None:
        pass  # the supervisor's SIGKILL to the process group is all there is

    def exit_note(self, unit: Unit) -> str | None:
        return None

    def release(self, unit: Unit) -> None:
        pass

    def close(self) -> None:
        pass
