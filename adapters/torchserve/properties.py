"""TorchServe's configuration for one container: ports, JVM heap and config.properties, all pure.

Ports: inference answers on SAGEMAKER_BIND_TO_PORT (TorchServe serves `POST /invocations` and
`GET /ping` itself, so the front door reaches it with no extra hop). Every other listener TorchServe
opens comes from the container's SAGEMAKER_SAFE_PORT_RANGE, never its defaults (8081, 8082, 7070,
7071), which would collide as soon as two TorchServe containers share the host.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MODEL_NAME = "model"  # as SageMaker's toolkit names it; /invocations serves the only model loaded
MIB = 2**20
# The Python worker (torch and the model) is the big consumer; the JVM frontend only moves bytes
# (about 50 MB of live heap under load), so a quarter of the container's memory is ample.
HEAP_FRACTION = 0.25
HEAP_MIN_MB, HEAP_MAX_MB = 64, 2048
HEAP_UNLIMITED_MB = 512  # no memory limit: still cap it, or 15 JVMs each take 1/4 of the host's RAM
SAFE_PORTS_NEEDED = 5
CORES_PER_WORKER = 4  # a worker is ~240 MB: one more per 4 allotted cores, else more torch threads
THREADS_ENV = "COSERVE_CPU_THREADS"  # the container's pool size (adapters.threads), read here and by the launcher


@dataclass(frozen=True)
class Ports:
    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int
    first_worker: int  # names the workers' Unix sockets (under java.io.tmpdir), TCP without native IO


def ports(bind_port: int, safe: tuple[int, int]) -> Ports:
    lo = safe[0]
    return Ports(bind_port, lo, lo + 1, lo + 2, lo + 3, lo + 4)


def port_problem(safe: tuple[int, int]) -> str | None:
    lo, hi = safe
    if hi - lo + 1 >= SAFE_PORTS_NEEDED:
        return None
    return f"TorchServe needs {SAFE_PORTS_NEEDED} ports in SAGEMAKER_SAFE_PORT_RANGE, got {lo}-{hi}"


def heap_mb(memory_limit: int | None) -> int:
    if memory_limit is None:
        return HEAP_UNLIMITED_MB
    return max(HEAP_MIN_MB, min(HEAP_MAX_MB, int(memory_limit * HEAP_FRACTION) // MIB))


def workers(allotment: float | None) -> int:
    """Python workers for the model: one per CORES_PER_WORKER allotted cores, at least one."""
    return max(1, int((allotment or 0) // CORES_PER_WORKER))


def worker_threads(allotment: float | None) -> int:
    """torch/OpenMP threads per worker: the allotment spread over the workers, at least one."""
    return max(1, math.ceil(round((allotment or 1) / workers(allotment), 6)))


def config_properties(p: Ports, handler: str, env: Mapping[str, str]) -> dict[str, str]:
    """config.properties as SageMaker's toolkit writes it, with private ports and loopback only."""
    local = "http://127.0.0.1"
    props = {
        "inference_address": f"{local}:{p.inference}",
        "management_address": f"{local}:{p.management}",
        "metrics_address": f"{local}:{p.metrics}",
        "grpc_inference_address": "127.0.0.1",
        "grpc_inference_port": str(p.grpc_inference),
        "grpc_management_address": "127.0.0.1",
        "grpc_management_port": str(p.grpc_management),
        "initial_worker_port": str(p.first_worker),
        # Loopback only, behind the front door's own auth: tokens would only break /invocations.
        "disable_token_authorization": "true",
        "enable_model_api": "false",
        "decode_input_request": "false",  # the handler decodes per Content-Type, as the toolkit does
        "default_service_handler": handler,
        "default_response_timeout": env.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", "60"),
        "unregister_model_timeout": env.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", "60"),
        # One worker unless asked: TorchServe's default (one per core) multiplies the ~240 MB worker
        # by the host's cores in every container, and a shared host has many containers.
        "default_workers_per_model": env.get("SAGEMAKER_MODEL_SERVER_WORKERS", "1"),
        # The frontend's netty pools default to one thread per host core; the container has fewer.
        "number_of_netty_threads": env.get(THREADS_ENV, "1"),
        "netty_client_threads": env.get(THREADS_ENV, "1"),
        "install_py_dep_per_model": "false",
        # coserve measures the container from its cgroup; TorchServe's own collector forks a
        # Python process every minute to do the same.
        "disable_system_metrics": "true",
        "allowed_urls": "file://.*",  # the one model is a local path; nothing is fetched
    }
    return props


def render(props: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())
