"""TorchServe adapter: `Image: torchserve`, or a SageMaker `…/pytorch-inference:…` image URI.

Serves a SageMaker PyTorch artifact (`model.pth` + `inference.py`, a TorchScript `model.pt`, or a
`.mar`) with real TorchServe, as SageMaker's PyTorch container does. The pieces:

- `adapter`: what the supervisor asks (argv, environment, readiness); declarative.
- `properties`: TorchServe's config.properties, ports and JVM heap, as pure functions.
- `servers.torchserve.launch`: the container's entry point (lays out work_dir, then execs the JVM in place).
- `servers.pytorch_handler`: the handler TorchServe's Python workers run (the user code contract).

TorchServe is pinned and in limited maintenance upstream; only `properties` and `launch` know it,
so another PyTorch server can replace them behind the same handler and adapter.
"""

from __future__ import annotations

from adapters.torchserve.adapter import TorchServeAdapter

__all__ = ["TorchServeAdapter"]
