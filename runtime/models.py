"""Each container's model directory (its artifact fetched and laid out, or an empty one), the
AdditionalModelDataSources beside it, and the Python environment its code/requirements.txt asks for."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from adapters.preflight import describe, missing
from runtime.config import ContainerSpec, Deployment
from runtime.images import ImageError, ensure_image
from runtime.pyenv import PythonEnvs, RequirementsError
from runtime.storage import ArtifactError, ArtifactStore
from runtime.storage.budget import PYENV_LEASE
from runtime.storage.trees import build_tree, link_copy
from runtime.supervisor.prepared import Prepared, View
from runtime.supervisor.units import Unit

log = logging.getLogger("runtime.models")
SOURCES_TARGET = Path("/opt/ml/additional-model-data-sources")
SOURCES_VARIABLE = "COSERVE_ADDITIONAL_MODEL_DATA_SOURCES"  # SageMaker documents none; coserve's own


class ModelPreparer:
    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.store = ArtifactStore(d.storage)
        self.envs = PythonEnvs(d.storage.cache_dir / "pyenvs", d.storage.wheelhouse)

    def prepare_unit(self, unit: Unit) -> Prepared:
        """The supervisor's fetch step: runs in a worker thread (runtime.supervisor.work)."""
        return self.prepare(unit.spec, unit.key.storage_name, unit.log_path)

    def prepare(self, spec: ContainerSpec, name: str | None = None, log_to: Path | None = None) -> Prepared:
        """Raises an error whose text names the container, the URL and the cause.

        `name`: the model directory's name in the cache (default: the file's endpoint and the hostname);
        `log_to`: where pip's output for code/requirements.txt goes (default: the container's log)."""
        hostname = spec.hostname
        name = name or f"{self.d.endpoint_name}--{hostname}"
        log_to = log_to or self.d.server.container_log(hostname)
        absent = [need for need in missing(spec.adapter, spec.environment) if need.required]
        if absent:  # the server could only fail on import, on every restart: fail once, with the remedy
            raise RuntimeError(f"container {hostname}: {spec.adapter} {describe(absent[0])}")
        if spec.adapter == "oci":
            self._image(hostname, spec.image, spec.image_pull)
        try:
            model_dir = self._model_dir(spec, name)
            views = self._sources(spec, name)
        except ArtifactError as exc:
            raise RuntimeError(f"container {hostname}: model artifact {exc}") from exc
        # An image brings its own Python: what its `serve` does with code/requirements.txt is its business.
        python = None if spec.adapter == "oci" else self._requirements(spec, model_dir, log_to)
        return Prepared(model_dir, python, _venv_environment(python) if python else {}, views)

    def _model_dir(self, spec: ContainerSpec, name: str) -> Path:
        self.store.lease(name)
        if spec.model_data is not None:
            return self.store.materialize(spec.model_data.uri, name, spec.model_data.layout)
        if spec.model_data_url is not None:
            return self.store.materialize(spec.model_data_url, name)
        empty = self.d.storage.cache_dir / "models" / name
        empty.mkdir(parents=True, exist_ok=True)
        return empty

    def _sources(self, spec: ContainerSpec, name: str) -> tuple[View, ...]:
        """Each channel's data in one directory, mounted as a whole at SOURCES_TARGET."""
        if not spec.additional_sources:
            return ()
        for lease in (f"{name}--sources", *(f"{name}--{c.name}" for c in spec.additional_sources)):
            self.store.lease(lease)
        dirs = {c.name: self.store.materialize(c.data.uri, f"{name}--{c.name}", c.data.layout)
                for c in spec.additional_sources}  # fmt: skip
        root = self.d.storage.cache_dir / "models" / f"{name}--sources"

        def fill(tmp: Path) -> None:
            for channel, src in dirs.items():
                (tmp / channel).mkdir()
                link_copy(src, tmp / channel)

        build_tree(root, fill)
        return (View(root, SOURCES_TARGET, SOURCES_VARIABLE),)

    def _requirements(self, spec: ContainerSpec, model_dir: Path, log_to: Path) -> str | None:
        requirements = model_dir / "code" / "requirements.txt"
        if not requirements.is_file():
            return None
        log_to.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store.lease(f"{PYENV_LEASE}{self.envs.key(requirements)}")
            with self.store.busy():  # no prune while pip fills it
                return str(self.envs.ensure(requirements, log_to))
        except RequirementsError as exc:
            raise RuntimeError(f"container {spec.hostname}: code/requirements.txt: {exc}") from exc

    def _image(self, hostname: str, image: str, policy: str) -> None:
        try:
            log.info("container %s: image %s %s", hostname, image, ensure_image(image, policy))
        except ImageError as exc:
            raise RuntimeError(f"container {hostname}: image {exc}") from exc


def _venv_environment(python: str) -> dict[str, str]:
    """As `activate` sets them: `python` and `pip` on PATH are the environment's."""
    bin_dir = Path(python).parent
    path = os.environ.get("PATH", os.defpath)
    return {"VIRTUAL_ENV": str(bin_dir.parent), "PATH": f"{bin_dir}{os.pathsep}{path}"}
