"""Model artifacts for the TorchServe adapter's tests, built on the spot: small, CPU, seconds."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from tests.support import write_tarball


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"coserve_test_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MNIST = _load(Path(__file__).resolve().parents[2] / "examples" / "mnist" / "pytorch" / "train.py")

# code/serve.py, named by SAGEMAKER_PROGRAM; its sibling module imports as it would on SageMaker.
TRANSFORM_CODE = b"""
import json
import torch
from helper import KEY

def transform_fn(model, body, content_type, accept):
    with torch.no_grad():
        out = model(torch.tensor(json.loads(body)[KEY], dtype=torch.float32))
    return json.dumps({"outputs": out.tolist(), "content_type": content_type, "accept": accept})
"""
BOTH_STYLES_CODE = b"""
def transform_fn(model, body, content_type, accept):
    return body

def predict_fn(data, model):
    return data
"""
MAR_HANDLER = b"""
def handle(data, context):
    return None if data is None else [b"served as is: " + bytes(d.get("body") or b"") for d in data]
"""


class Affine(torch.nn.Module):
    """The TorchScript model for the defaults: any [..., 4] float input -> [..., 2]."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)  # type: ignore[no-any-return]


def torchscript() -> tuple[bytes, Any]:
    torch.manual_seed(1)
    # SageMaker's default model_fn loads TorchScript, which torch 2.13 deprecates (a warning, an error here).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.script(Affine().eval())
        buf = io.BytesIO()
        torch.jit.save(model, buf)
    return buf.getvalue(), model


def mnist_artifact(out: Path) -> tuple[Path, Any]:
    """The example's artifact (model.pth + inference.py at the root), and its Net loaded here."""
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)
    path = MNIST.build_artifact(out / "mnist", images, labels, epochs=1)
    with tarfile.open(path) as archive:
        weights = archive.extractfile("model.pth")
        assert weights is not None
        state = torch.load(io.BytesIO(weights.read()), weights_only=True)
    net = MNIST.inference_module().Net()
    net.load_state_dict(state)
    return path, net.eval()


def mar_artifact(out: Path) -> Path:
    """A model.tar.gz holding one .mar, made by the real torch-model-archiver."""
    (out / "mar").mkdir()
    (out / "mar" / "echo_handler.py").write_bytes(MAR_HANDLER)
    archiver = [sys.executable, "-m", "model_archiver.model_packaging", "--model-name", "echo", "--version", "1"]
    subprocess.run([*archiver, "--handler", str(out / "mar" / "echo_handler.py"), "--export-path", str(out / "mar")],
                   check=True, capture_output=True)  # fmt: skip
    return write_tarball(out / "mar.tar.gz", {"echo.mar": (out / "mar" / "echo.mar").read_bytes()})


def artifacts(out: Path) -> dict[str, Any]:
    script, model = torchscript()
    mnist, net = mnist_artifact(out)
    return {
        "mnist": mnist, "net": net, "affine": model,
        "transform": write_tarball(out / "transform.tar.gz", {
            "model.pt": script, "code/serve.py": TRANSFORM_CODE, "code/helper.py": b'KEY = "rows"\n'}),
        "defaults": write_tarball(out / "defaults.tar.gz", {"model.pt": script}),
        "both": write_tarball(out / "both.tar.gz", {"model.pt": script, "inference.py": BOTH_STYLES_CODE}),
        "mar": mar_artifact(out),
    }  # fmt: skip
