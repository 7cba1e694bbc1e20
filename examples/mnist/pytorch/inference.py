"""SageMaker-style inference script for a small MNIST classifier (PyTorch).

Ships at the root of model.tar.gz next to `model.pth` (the trained state_dict), as SageMaker's
multi-container example repacks it. The PyTorch serving container (or coserve's TorchServe adapter)
imports it and calls model_fn once, then input_fn → predict_fn → output_fn per request:

    request:  {"inputs": <float array of shape [N, 1, 28, 28]>}   (application/json)
    response: [[10 log-probabilities], ...]                      (application/json)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

JSON = "application/json"


class Net(nn.Module):
    """Two 3x3 convolutions with max-pooling, then two dense layers: about 15k parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3)  # 28x28 -> 26x26, pooled to 13x13
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3)  # 13x13 -> 11x11, pooled to 5x5
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def model_fn(model_dir: str) -> Net:
    model = Net()
    state = torch.load(Path(model_dir) / "model.pth", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def input_fn(request_body: str | bytes, content_type: str) -> torch.Tensor:
    if content_type.split(";")[0].strip() != JSON:
        raise ValueError(f"content type {content_type} is not supported: send {JSON}")
    payload = json.loads(request_body)
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise ValueError('expected a JSON object {"inputs": [...]} holding images of shape [N, 1, 28, 28]')
    return torch.tensor(payload["inputs"], dtype=torch.float32)


def predict_fn(data: torch.Tensor, model: Net) -> torch.Tensor:
    with torch.no_grad():
        return model(data)  # type: ignore[no-any-return]


def output_fn(prediction: torch.Tensor, accept: str) -> Any:
    if accept.split(";")[0].strip() != JSON:
        raise ValueError(f"accept type {accept} is not supported: ask for {JSON}")
    return json.dumps(prediction.tolist())
