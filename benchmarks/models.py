"""Model kinds for the consolidation benchmark: pluggable, one entry each in KINDS.

A kind builds its artifact once (in a subprocess, so TensorFlow and torch never load into the benchmark),
says what container runs it and what one request looks like, and says why not when its adapter or
framework is missing. Artifacts are cached in CACHE between runs.

    .venv/bin/python -m benchmarks.models build KIND OUT   # what `build` runs in the subprocess
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path("/tmp/coserve-bench-artifacts")
PY = "$(COSERVE_PYTHON)"


@dataclass(frozen=True)
class Kind:
    name: str
    framework: str
    image: str  # the Image an endpoint names: process | torchserve | tensorflow-serving
    settings: dict[str, Any]  # its Coserve.Containers entry (Command, Memory)
    environment: dict[str, str]
    body: Callable[[], bytes]  # one request: a single small input, as low-traffic endpoints get
    needs: tuple[str, ...]  # Python modules that must import (the adapter's framework)

    def missing(self) -> str | None:
        """Why this kind cannot run here, or None."""
        if self.image != "process":
            probe = f"from adapters import get_adapter; get_adapter({self.image!r})"
            if subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True).returncode != 0:
                return f"adapter {self.image} is not available"
        for module in self.needs:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        return None

    def artifact(self, rebuild: bool = False) -> Path:
        out = CACHE / self.name
        path = out / "model.tar.gz"
        if rebuild or not path.exists():
            subprocess.run([sys.executable, "-m", "benchmarks.models", "build", self.name, str(out)], cwd=ROOT,
                           check=True, capture_output=True)  # fmt: skip
        return path

    def container(self, hostname: str, artifact: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        entry: dict[str, Any] = {"ContainerHostname": hostname, "Image": self.image, "ModelDataUrl": str(artifact)}
        if self.environment:
            entry["Environment"] = self.environment
        return entry, dict(self.settings)


def _mnist_image() -> list[list[float]]:
    return [[((r * 28 + c) % 17) / 17.0 for c in range(28)] for r in range(28)]


KINDS: dict[str, Kind] = {
    "sklearn": Kind("sklearn", "scikit-learn (BYO, starlette)", "process",
                    {"Command": [PY, "$(SM_MODEL_DIR)/code/sklearn_server.py"], "Memory": "512MiB"}, {},
                    lambda: json.dumps({"instances": [[float(i % 16) for i in range(64)]]}).encode(), ("sklearn",)),
    "torchserve": Kind("torchserve", "PyTorch (TorchServe)", "torchserve", {"Memory": "1GiB"},
                       {"SAGEMAKER_PROGRAM": "inference.py"},
                       lambda: json.dumps({"inputs": [[_mnist_image()]]}).encode(), ("torch", "ts")),
    "tensorflow": Kind("tensorflow", "TensorFlow (TF Serving API)", "tensorflow-serving", {"Memory": "1GiB"}, {},
                       lambda: json.dumps({"instances": [[[[v] for v in row] for row in _mnist_image()]]}).encode(),
                       ("tensorflow",)),
    "numpy": Kind("numpy", "NumPy (BYO, stdlib server)", "process",
                  {"Command": [PY, "$(SM_MODEL_DIR)/code/centroid_server.py"], "Memory": "256MiB"}, {},
                  lambda: json.dumps({"instances": [[float(i % 16) for i in range(64)]]}).encode(), ("numpy",)),
}  # fmt: skip


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(kind: str, out: Path) -> Path:
    """Train a small model of `kind` (on synthetic or bundled data: accuracy is not the point) into out/."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    if kind in ("sklearn", "numpy"):
        built = _load(ROOT / "examples" / "digits" / "build.py").build(out)
        name = {"sklearn": "digits-sklearn", "numpy": "digits-centroid"}[kind]
        return Path(built[name]).replace(out / "model.tar.gz")
    rng = np.random.default_rng(0)
    images, labels = rng.random((256, 28, 28), dtype=np.float32), rng.integers(0, 10, 256)
    if kind == "torchserve":
        return Path(
            _load(ROOT / "examples" / "mnist" / "pytorch" / "train.py").build_artifact(out, images, labels, epochs=1)
        )
    return Path(_load(ROOT / "examples" / "mnist" / "tensorflow" / "train.py").build_artifact(out, images, labels))


if __name__ == "__main__":
    if sys.argv[1:2] != ["build"] or len(sys.argv) != 4:
        raise SystemExit("usage: python -m benchmarks.models build KIND OUT")
    print(build(sys.argv[2], Path(sys.argv[3])))
