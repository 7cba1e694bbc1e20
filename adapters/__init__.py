"""Adapters: one module per model server, small and declarative.

`Image` names an adapter (`process`, `torchserve`, `tensorflow-serving`) or is a SageMaker framework
image URI, mapped to the adapter that serves the same artifacts, so a real CreateModel request
works unchanged.
"""

from __future__ import annotations

import importlib
import re

from adapters.base import Adapter, Launch

__all__ = ["ADAPTERS", "Adapter", "Launch", "get_adapter", "resolve_image"]

# name -> "module:Class", imported on first use so the framework servers stay optional extras.
ADAPTERS = {
    "process": "adapters.process:ProcessAdapter",
    "torchserve": "adapters.torchserve:TorchServeAdapter",
    "tensorflow-serving": "adapters.tfserving:TfServingAdapter",
}
# SageMaker's framework inference images: <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>:<tag>
_IMAGE_URI = re.compile(
    r"^(?:[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/)?(?P<repo>[a-z0-9._/-]+)(?::[\w.-]+)?$"
)
_REPOS = {
    "pytorch-inference": "torchserve",
    "sagemaker-pytorch-serving": "torchserve",
    "tensorflow-inference": "tensorflow-serving",
    "sagemaker-tensorflow-serving": "tensorflow-serving",
}
_loaded: dict[str, Adapter] = {}


def adapter_name(image: str) -> str | None:
    """The adapter an `Image` value maps to, or None when coserve has none for it."""
    if image in ADAPTERS:
        return image
    match = _IMAGE_URI.match(image)
    if match is None or "/" not in image:
        return None
    return _REPOS.get(match.group("repo").rsplit("/", 1)[-1])


def get_adapter(name: str) -> Adapter:
    if name not in _loaded:
        module, cls = ADAPTERS[name].split(":")
        _loaded[name] = getattr(importlib.import_module(module), cls)()
    return _loaded[name]


def resolve_image(image: str) -> Adapter | None:
    name = adapter_name(image)
    return get_adapter(name) if name is not None else None
