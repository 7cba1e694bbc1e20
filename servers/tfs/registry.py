"""Which model versions exist, their TF Serving state, and the loaded servables, by (name, version).

No TensorFlow here: the loader is passed in, so the server can bind its ports before TensorFlow imports.
Every version of every model is loaded, as SageMaker's model config asks TFS to (a `specific` version
policy listing them all); a request without a version gets the highest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servers.tfs.discovery import ModelSource
from servers.tfs.errors import not_found

log = logging.getLogger("servers.tfs.registry")
Loader = Callable[[str, int, Path], Any]


class Registry:
    def __init__(self, sources: list[ModelSource], default: str) -> None:
        self.sources = {s.name: s for s in sources}
        self.default = default
        self.states = {(s.name, v): "START" for s in sources for v, _ in s.versions}
        self.errors: dict[tuple[str, int], str] = {}
        self._servables: dict[tuple[str, int], Any] = {}

    def load(self, loader: Loader) -> None:
        """Load every version; the first failure ends the version END with its error and is raised."""
        for source in self.sources.values():
            for version, path in source.versions:
                key = (source.name, version)
                self.states[key] = "LOADING"
                try:
                    self._servables[key] = loader(source.name, version, path)
                except Exception as exc:
                    self.states[key], self.errors[key] = "END", str(exc)
                    raise
                self.states[key] = "AVAILABLE"

    def get(self, name: str, version: int | None) -> Any:
        source = self.sources.get(name)
        wanted = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        key = (name, version if version is not None else source.latest if source else -1)
        servable = self._servables.get(key)
        if servable is None:
            raise not_found(f"Servable not found for request: {wanted}")
        return servable

    def available(self, name: str) -> bool:
        source = self.sources.get(name)
        return source is not None and all(self.states[(name, v)] == "AVAILABLE" for v, _ in source.versions)

    def status(self, name: str, version: int | None = None) -> list[tuple[int, str, str]]:
        """(version, state, error message) per version, highest first, as GetModelStatus lists them."""
        source = self.sources.get(name)
        if source is None:
            raise not_found(f"Could not find any versions of model {name}")
        versions = [v for v, _ in source.versions if version is None or v == version]
        if not versions:
            raise not_found(f"Could not find version {version} of model {name}")
        return [(v, self.states[(name, v)], self.errors.get((name, v), "")) for v in reversed(versions)]

    def status_json(self, name: str, version: int | None = None) -> dict[str, Any]:
        return {
            "model_version_status": [
                {"version": str(v), "state": state, "status": {"error_code": "UNKNOWN" if error else "OK",
                                                                "error_message": error}}
                for v, state, error in self.status(name, version)
            ]
        }  # fmt: skip
