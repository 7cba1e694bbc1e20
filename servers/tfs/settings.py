"""The server's settings, read once from the container's environment (the SageMaker names where they exist)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    model_dir: Path  # the unpacked artifact: /opt/ml/model, or SM_MODEL_DIR outside a mount namespace
    bind_port: int  # SAGEMAKER_BIND_TO_PORT: /ping and /invocations (and, built-in, the REST API too)
    grpc_port: int  # TFS gRPC: low end of SAGEMAKER_SAFE_PORT_RANGE, else 9000 (serve.py's layout)
    rest_port: int  # TFS REST: the next port, else 8501
    default_model: str | None  # SAGEMAKER_TFS_DEFAULT_MODEL_NAME; None picks the first model found
    intra_op: int  # SAGEMAKER_TFS_INTRA_OP_PARALLELISM: threads inside one op
    inter_op: int  # SAGEMAKER_TFS_INTER_OP_PARALLELISM: ops run side by side
    read_timeout_s: float  # SAGEMAKER_NGINX_PROXY_READ_TIMEOUT_SECONDS: front → binary REST
    work_dir: Path  # TMPDIR: generated files (the binary's model config)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Raises ValueError naming the variable and its bad value."""
        grpc_port, rest_port = _tfs_ports(env.get("SAGEMAKER_SAFE_PORT_RANGE"))
        cpus = len(os.sched_getaffinity(0))
        return cls(
            model_dir=Path(env.get("SM_MODEL_DIR") or env.get("COSERVE_MODEL_DIR") or "/opt/ml/model"),
            bind_port=_int(env, "SAGEMAKER_BIND_TO_PORT", 8080),
            grpc_port=grpc_port,
            rest_port=rest_port,
            default_model=env.get("SAGEMAKER_TFS_DEFAULT_MODEL_NAME") or None,
            # Several model servers share a small host: one op should not claim every core.
            intra_op=_int(env, "SAGEMAKER_TFS_INTRA_OP_PARALLELISM", min(cpus, 4)),
            inter_op=_int(env, "SAGEMAKER_TFS_INTER_OP_PARALLELISM", min(cpus, 2)),
            read_timeout_s=float(_int(env, "SAGEMAKER_NGINX_PROXY_READ_TIMEOUT_SECONDS", 60)),
            work_dir=Path(env.get("TMPDIR") or "/tmp"),
        )


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r}: not an integer") from None
    if value < 0:
        raise ValueError(f"{key}={raw!r}: must not be negative")
    return value


def _tfs_ports(safe_range: str | None) -> tuple[int, int]:
    if not safe_range:
        return 9000, 8501
    try:
        lo, hi = (int(p) for p in safe_range.split("-"))
    except ValueError:
        raise ValueError(f"SAGEMAKER_SAFE_PORT_RANGE={safe_range!r}: expected LOW-HIGH") from None
    if hi < lo + 1:
        raise ValueError(f"SAGEMAKER_SAFE_PORT_RANGE={safe_range!r}: needs 2 ports (TFS gRPC and REST)")
    return lo, lo + 1
