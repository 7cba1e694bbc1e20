"""Train the MNIST `Net` for a few epochs and package a SageMaker PyTorch model.tar.gz.

    build_artifact(out_dir, X_train, y_train) -> out_dir/model.tar.gz  (model.pth + inference.py at the root)

X_train: uint8 or float images of shape [N, 28, 28]; y_train: labels 0-9. Images are normalised per
image (z-score), and clients must send them the same way: `normalize()` here does it for both.
torch is imported inside the functions, so this module imports without it.

    python train.py OUT_DIR DATA.npz   (an .npz holding X_train and y_train)
"""

from __future__ import annotations

import importlib.util
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def normalize(images: Any) -> np.ndarray[Any, Any]:
    """Per-image z-score, shape [N, 28, 28] -> [N, 1, 28, 28] float32, as the model expects."""
    x = np.asarray(images, dtype=np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    out: np.ndarray[Any, Any] = ((x - mean) / (std + 1e-7))[:, None, :, :]
    return out


def inference_module() -> ModuleType:
    """inference.py, loaded by path: it is the artifact's user code, not part of a package."""
    spec = importlib.util.spec_from_file_location("mnist_pytorch_inference", HERE / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(x_train: Any, y_train: Any, epochs: int = 8, seed: int = 0) -> Any:
    """A trained `Net` (eval mode), after `epochs` passes of Adam on mini-batches of 64.

    A fixed amount of work, not of time: on a busy machine a time budget trained too little (74% once)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    model = inference_module().Net()
    x = torch.from_numpy(normalize(x_train))
    y = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            F.nll_loss(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return model.eval()


def build_artifact(out_dir: Path, x_train: Any, y_train: Any, epochs: int = 8) -> Path:
    """Train, then write out_dir/model.tar.gz with model.pth and inference.py at its root."""
    import torch

    model = train(x_train, y_train, epochs)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "model.pth"
        torch.save(model.state_dict(), weights)
        with tarfile.open(path, "w:gz") as tar:
            tar.add(weights, arcname="model.pth")
            tar.add(HERE / "inference.py", arcname="inference.py")
    return path


def main(argv: list[str]) -> None:
    out_dir, data = Path(argv[0]), np.load(argv[1])
    print(build_artifact(out_dir, data["X_train"], data["y_train"]))


if __name__ == "__main__":
    main(sys.argv[1:])
