"""TensorFlow Serving: `Image: tensorflow-serving`, or a SageMaker `…/tensorflow-inference:…` image URI.

The artifact is what SageMaker's TF container serves: SavedModels under numeric version folders
(`<name>/<version>/saved_model.pb`, or `<version>/` at the root for a model named `model`), with optional
`code/inference.py` pre/post-processing. One command starts the container (`python -m servers.tfs`):

- `tensorflow_model_server` found (on PATH, or named by COSERVE_TFS_SERVER): it runs as that process's child
  on the TFS ports of SAGEMAKER_SAFE_PORT_RANGE (gRPC low, REST low+1), and the process is the SageMaker
  front on SAGEMAKER_BIND_TO_PORT.
- otherwise (it is neither on PyPI nor in Debian): a built-in server on the TensorFlow Python runtime
  speaks the same REST and gRPC APIs and runs /invocations in-process.

Container Environment: COSERVE_TFS_SERVER = auto (default) | builtin | /path/to/tensorflow_model_server,
plus SageMaker's SAGEMAKER_TFS_* variables.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping

from adapters.base import Launch, contract_environment
from adapters.threads import pool_environment, threads

log = logging.getLogger("adapters.tfserving")
BINARY = "tensorflow_model_server"


class TfServingAdapter:
    name = "tensorflow-serving"
    safe_ports_needed = 2  # TF Serving's gRPC and REST ports, as SageMaker's serve.py lays them out

    def check(self, command: tuple[str, ...] | None) -> list[str]:
        if command:
            return ["not used by Image: tensorflow-serving (set COSERVE_TFS_SERVER in Environment to pick a binary)"]
        return []

    def command(self, launch: Launch) -> list[str]:
        argv = [launch.python, "-m", "servers.tfs"]
        binary = self.binary(launch.environment)
        if binary is not None:
            argv += ["--binary", binary]
        log.info("%s: %s", launch.hostname, f"{BINARY} at {binary}" if binary else "built-in TF Serving server")
        return argv

    def binary(self, environment: Mapping[str, str]) -> str | None:
        """The tensorflow_model_server to run, or None for the built-in server."""
        choice = environment.get("COSERVE_TFS_SERVER", "auto")
        if choice == "builtin":
            return None
        if choice == "auto":
            return shutil.which(BINARY, path=environment.get("PATH", os.environ.get("PATH")))
        return choice

    def environment(self, launch: Launch) -> dict[str, str]:
        n = threads(launch.cpu_allotment)
        return {
            **contract_environment(launch),
            **pool_environment(launch.cpu_allotment),
            # Both servers (the binary's --tensorflow_*_op_parallelism flags, the built-in one's
            # tf.config.threading) read these: pools sized to the allotment, not the host.
            "SAGEMAKER_TFS_INTRA_OP_PARALLELISM": str(n),
            "SAGEMAKER_TFS_INTER_OP_PARALLELISM": str(min(n, 2)),  # ops side by side: more rarely pays
            "TF_CPP_MIN_LOG_LEVEL": "1",  # fewer TensorFlow INFO lines in the container log
        }

    def readiness_url(self, launch: Launch) -> str:
        return f"http://127.0.0.1:{launch.bind_port}/ping"

    def ready(self, status: int, body: bytes) -> bool:
        # /ping is 200 only once the default model's versions are all AVAILABLE (502 while loading).
        return status == 200
