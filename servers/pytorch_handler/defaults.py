"""The functions used where the user's module defines none, as SageMaker's PyTorch toolkit does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from servers.pytorch_handler import formats

MODEL_SUFFIXES = (".pt", ".pth")


def model_fn(model_dir: str) -> Any:
    """TorchScript `model.pt`, else the only .pt/.pth file in the model dir."""
    folder = Path(model_dir)
    path = folder / "model.pt"
    if not path.is_file():
        found = sorted(p for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES and p.is_file())
        if len(found) != 1:
            names = [p.name for p in found]
            raise ValueError(f"exactly one .pt or .pth file is required without a model_fn, found {names}")
        path = found[0]
    try:
        model = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    except RuntimeError as exc:
        raise ValueError(f"{path.name} is not TorchScript: save it with torch.jit.save, or define model_fn") from exc
    return model.eval()


def input_fn(body: str | bytes, content_type: str) -> torch.Tensor:
    array = formats.decode(body, content_type)
    if formats.media_type(content_type) in formats.TEXT_TYPES:
        return torch.as_tensor(array, dtype=torch.float32)
    return torch.from_numpy(array)


def predict_fn(data: Any, model: Any) -> Any:
    with torch.no_grad():
        return model(data)


def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    return formats.encode(prediction, accept)
