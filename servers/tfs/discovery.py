"""Where the SavedModels are, found as SageMaker's TF container finds them (tfs_utils.find_models).

Every `saved_model.pb` whose parent folder is a number is one version of a model; the folder above is
the model, named after that folder (`model` when versions sit right under the model dir). Leading zeros
are dropped: `00000000` is version 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MARKERS = ("saved_model.pb", "saved_model.pbtxt")


class DiscoveryError(Exception):
    pass


@dataclass(frozen=True)
class ModelSource:
    name: str
    base_path: Path
    versions: tuple[tuple[int, Path], ...]  # (version, folder), ascending

    @property
    def latest(self) -> int:
        return self.versions[-1][0]


def find_models(model_dir: Path) -> list[ModelSource]:
    """Every model under `model_dir`, in walk order (sorted, so 'the first found' is stable)."""
    found: dict[Path, list[tuple[int, Path]]] = {}
    for top, dirs, files in os.walk(model_dir):
        dirs.sort()
        here = Path(top)
        if here != model_dir and here.name.isdigit() and any(m in files for m in MARKERS):
            found.setdefault(here.parent, []).append((int(here.name), here))
            dirs.clear()  # variables/ and assets/ hold no further versions
    if not found:
        raise DiscoveryError(f"no SavedModel bundles found! (no <model>/<version>/saved_model.pb in {model_dir})")
    models = [_source(model_dir, base, versions) for base, versions in found.items()]
    names = [m.name for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DiscoveryError(f"two model folders share the name {', '.join(twice)} under {model_dir}")
    return models


def _source(model_dir: Path, base: Path, versions: list[tuple[int, Path]]) -> ModelSource:
    numbers = [v for v, _ in versions]
    if len(set(numbers)) != len(numbers):
        raise DiscoveryError(f"{base}: two version folders name the same version ({sorted(numbers)})")
    name = "model" if base == model_dir else base.name
    return ModelSource(name, base, tuple(sorted(versions)))


def default_model(models: list[ModelSource], wanted: str | None) -> ModelSource:
    """SAGEMAKER_TFS_DEFAULT_MODEL_NAME when set (and found), else the first model found."""
    if wanted is None:
        return models[0]
    for m in models:
        if m.name == wanted:
            return m
    raise DiscoveryError(
        f"SAGEMAKER_TFS_DEFAULT_MODEL_NAME={wanted!r} names no model (found: {', '.join(m.name for m in models)})"
    )
