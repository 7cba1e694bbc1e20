"""What the supervisor asks of TorchServe: argv, environment and readiness. Declarative only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from adapters.base import Launch, contract_environment
from adapters.threads import pool_environment, threads
from adapters.torchserve import properties


class TorchServeAdapter:
    name = "torchserve"
    safe_ports_needed = properties.SAFE_PORTS_NEEDED  # management, metrics, two gRPC, worker sockets

    def check(self, command: tuple[str, ...] | None) -> list[str]:
        return ["not used by Image: torchserve (use Image: process to run your own server)"] if command else []

    def command(self, launch: Launch) -> list[str]:
        # A launcher that execs the JVM in place: the pid the supervisor spawned IS the server,
        # so its exit is seen (the `torchserve` script would fork it and forget it).
        lo, hi = launch.safe_ports
        return [
            launch.python, "-m", "servers.torchserve.launch",
            "--model-dir", str(launch.model_dir), "--work-dir", str(launch.work_dir),
            "--bind-port", str(launch.bind_port), "--safe-ports", f"{lo}-{hi}",
            "--heap-mb", str(properties.heap_mb(launch.memory_limit)),
        ]  # fmt: skip

    def environment(self, launch: Launch) -> dict[str, str]:
        logs = str(launch.work_dir / "ts" / "logs")
        # The launcher and TorchServe's workers import `servers` and `adapters` with cwd=work_dir: an uninstalled
        # source checkout must be on their path too.
        path = [str(Path(__file__).resolve().parents[2]), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {
            **contract_environment(launch),
            "PYTHONPATH": os.pathsep.join(path),
            # TorchServe resolves its log and metrics paths against these (else `logs/` under cwd).
            "LOG_LOCATION": logs,
            "METRICS_LOCATION": logs,
            "PYTHONUNBUFFERED": "1",
            **self.pools(launch.cpu_allotment),
        }

    @staticmethod
    def pools(allotment: float | None) -> dict[str, str]:
        """Workers, their torch/OpenMP threads, and the frontend's size (netty, the JVM's processor count)."""
        return {
            **pool_environment(
                allotment, properties.worker_threads(allotment)
            ),  # per worker: torch reads OMP_NUM_THREADS
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(properties.workers(allotment)),
            properties.THREADS_ENV: str(threads(allotment)),
        }

    def readiness_url(self, launch: Launch) -> str:
        # Not /ping: TorchServe answers it 200 before the model is loaded (and always 200 after).
        management = properties.ports(launch.bind_port, launch.safe_ports).management
        return f"http://127.0.0.1:{management}/models/{properties.MODEL_NAME}"

    def ready(self, status: int, body: bytes) -> bool:
        """Ready once the model has a worker in READY state (the management API's describe-model)."""
        if status != 200:
            return False
        try:
            models = json.loads(body)
        except ValueError:
            return False
        if not isinstance(models, list):
            return False
        return any(
            isinstance(w, dict) and w.get("status") == "READY"
            for m in models
            if isinstance(m, dict)
            for w in m.get("workers") or ()
        )
