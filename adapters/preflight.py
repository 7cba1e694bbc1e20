"""What each adapter needs importable on coserve's interpreter, checked before anything starts.

A framework server is an optional extra (`coserve[tensorflow]`, `coserve[torchserve]`). Without
this check a missing one shows only as the same ModuleNotFoundError on every restart; with it,
`coserve check` names the module and the extra, and a container that cannot start fails at once.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass

from adapters import get_adapter


@dataclass(frozen=True)
class Need:
    module: str  # the top-level Python module the server imports
    required: bool  # False: the server runs without it, with one feature off
    hint: str  # how to install it, and what is lost without it


TF_GRPC = Need(
    "tensorflow_serving",
    False,
    "its gRPC API is off without it; REST and /invocations serve as usual. To turn it on: "
    "pip install --no-deps tensorflow-serving-api==2.21.0 (it declares the full tensorflow wheel, "
    "which tensorflow-cpu already provides)",
)
NEEDS: dict[str, tuple[Need, ...]] = {
    "tensorflow-serving": (Need("tensorflow", True, "pip install 'coserve[tensorflow]'"), TF_GRPC),
    "torchserve": (
        Need("torch", True, "pip install 'coserve[torchserve]'"),
        Need("ts", True, "pip install 'coserve[torchserve]' (the torchserve package)"),
    ),
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(adapter: str, environment: Mapping[str, str]) -> list[Need]:
    """The modules `adapter` needs here that this interpreter cannot import."""
    if adapter == "tensorflow-serving" and _tfs_binary(environment):
        return []  # tensorflow_model_server does the serving; its front needs no TensorFlow
    return [need for need in NEEDS.get(adapter, ()) if not installed(need.module)]


def describe(need: Need) -> str:
    kind = "needs" if need.required else "can use"
    return f"{kind} the Python module {need.module!r}, which is not installed: {need.hint}"


def _tfs_binary(environment: Mapping[str, str]) -> bool:
    binary = getattr(get_adapter("tensorflow-serving"), "binary", None)
    return binary is not None and binary(environment) is not None
