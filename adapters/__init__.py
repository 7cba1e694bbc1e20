"""Adapters: one module per model server, small and declarative.

`Image` names an adapter (`process`, `torchserve`, `tensorflow-serving`) or is a SageMaker framework
image URI, mapped to the adapter that serves the same artifacts, so a real CreateModel request
works unchanged. Any other fully qualified OCI image reference (`registry/name:tag`,
`localhost/name:tag`) is a bring-your-own image, run through podman (`oci`).
"""

from __future__ import annotations

import importlib
import re

from adapters.base import Adapter, Launch
from adapters.oci import podman_path
from adapters.ociref import parse_reference

__all__ = ["ADAPTERS", "Adapter", "Launch", "get_adapter", "image_problems", "resolve_image"]

# name -> "module:Class", imported on first use so the framework servers stay optional extras.
ADAPTERS = {
    "process": "adapters.process:ProcessAdapter",
    "torchserve": "adapters.torchserve:TorchServeAdapter",
    "tensorflow-serving": "adapters.tfserving:TfServingAdapter",
    "oci": "adapters.oci:OciAdapter",  # any other fully qualified OCI image reference
}
OCI = "oci"
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
        return None if image == OCI else image  # `oci` alone names no image to run
    match = _IMAGE_URI.match(image)
    if match is not None and "/" in image and (framework := _REPOS.get(match.group("repo").rsplit("/", 1)[-1])):
        return framework
    return OCI if parse_reference(image) is not None else None


def image_problems(image: str) -> list[str]:
    """Config-time problems with an `Image` that coserve resolves, each a short rule (podman missing)."""
    if adapter_name(image) != OCI:
        return []
    if podman_path() is None:
        return ["runs through podman, which is not on PATH (install it: images/install.sh --extras podman)"]
    return []


def get_adapter(name: str) -> Adapter:
    if name not in _loaded:
        module, cls = ADAPTERS[name].split(":")
        _loaded[name] = getattr(importlib.import_module(module), cls)()
    return _loaded[name]


def resolve_image(image: str) -> Adapter | None:
    name = adapter_name(image)
    return get_adapter(name) if name is not None else None
