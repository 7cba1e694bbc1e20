"""The deployment file: the CreateModel request verbatim, plus coserve's own settings under `Coserve`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from runtime.config.load import read_document
from runtime.config.model import (
    ContainerLimits,
    ContainerSpec,
    Deployment,
    MetricsConfig,
    Mode,
    ServerSettings,
)
from runtime.config.parse import ConfigError, parse_deployment

__all__ = [
    "ConfigError",
    "ContainerLimits",
    "ContainerSpec",
    "Deployment",
    "MetricsConfig",
    "Mode",
    "ServerSettings",
    "load_deployment",
    "parse_deployment",
]


def load_deployment(path: Path) -> Deployment:
    """Read a JSON or YAML deployment file and validate it once."""
    return _relative_to(parse_deployment(read_document(path), path), path.parent)


def _relative_to(d: Deployment, base: Path) -> Deployment:
    """Relative paths in the file (ModelDataUrl paths, log, run and cache dirs) mean: next to the file."""

    def here(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).absolute()

    def url(u: str | None) -> str | None:
        if u is None or "://" in u or Path(u).is_absolute():
            return u
        return str(here(Path(u)))

    server = replace(d.server, log_dir=here(d.server.log_dir), run_dir=here(d.server.run_dir))
    wheelhouse = here(d.storage.wheelhouse) if d.storage.wheelhouse else None
    storage = replace(d.storage, cache_dir=here(d.storage.cache_dir), wheelhouse=wheelhouse)
    containers = tuple(replace(c, model_data_url=url(c.model_data_url)) for c in d.containers)
    return replace(d, server=server, storage=storage, containers=containers)
