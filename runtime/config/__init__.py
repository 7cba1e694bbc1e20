"""The deployment file: the CreateModel request verbatim, plus coserve's own settings under `Coserve`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from runtime.config.model import (
    ContainerLimits,
    ContainerSpec,
    Deployment,
    Mode,
    ServerSettings,
    StorageConfig,
)
from runtime.config.parse import ConfigError, parse_deployment

__all__ = [
    "ConfigError",
    "ContainerLimits",
    "ContainerSpec",
    "Deployment",
    "Mode",
    "ServerSettings",
    "StorageConfig",
    "load_deployment",
    "parse_deployment",
]


def load_deployment(path: Path) -> Deployment:
    """Read a JSON or YAML deployment file and validate it once."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"cannot read the deployment file: {exc.strerror}"], path) from exc
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"], path) from exc
    return parse_deployment(doc, path)
