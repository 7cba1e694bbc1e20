"""What preparing a container yields for its starts: its model dir and what else it runs with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class View:
    """A read-only host directory the container sees at `target` (a private mount), or at `host`."""

    host: Path
    target: Path
    variable: str  # the environment variable that tells the container where it lies


@dataclass(frozen=True)
class Prepared:
    model_dir: Path  # the unpacked artifact on the host, seen at /opt/ml/model where mounts are private
    python: str | None = None  # the interpreter to run (an environment with code/requirements.txt installed)
    environment: dict[str, str] = field(default_factory=dict)  # added under the container's own Environment
    views: tuple[View, ...] = ()  # more data (AdditionalModelDataSources)
