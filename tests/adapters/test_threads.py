"""Thread pools sized to the container's CPU allotment: the derivation, and what each adapter sets from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import Launch
from adapters.process import ProcessAdapter
from adapters.tfserving import TfServingAdapter
from adapters.threads import allotment, pool_environment, threads
from adapters.torchserve import TorchServeAdapter, properties


def launch(tmp: Path, cpus: float | None) -> Launch:
    return Launch("m", 9100, (9101, 9109), tmp, tmp, {}, ("serve",), None, cpu_allotment=cpus)


@pytest.mark.parametrize(
    ("cpus", "weight", "weights", "cores", "expected"),
    [
        (1.5, None, [None, None], 16, 1.5),  # Cpus is the allotment, whatever the weights
        (32.0, None, [None], 16, 16.0),  # never more than the host has
        (None, None, [None, None], 2, 1.0),  # equal default weights share the cores evenly
        (None, 300, [300, None], 8, 6.0),  # 300 / (300 + 100) x 8
        (None, None, [None] * 15, 2, 2 / 15),  # fifteen models on two cores
        (None, 50, [50, 1000], 2, 2 * 50 / 1050),
    ],
)
def test_allotment_is_cpus_else_the_weights_share_of_the_host(
    cpus: float | None, weight: int | None, weights: list[int | None], cores: int, expected: float
) -> None:
    assert allotment(cpus, weight, weights, cores) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("share", "n"), [(None, 1), (0.01, 1), (2 / 15, 1), (1.0, 1), (1.5, 2), (2.0, 2), (2.0000001, 2), (7.2, 8)]
)
def test_a_pool_is_the_allotment_rounded_up_and_at_least_one(share: float | None, n: int) -> None:
    assert threads(share) == n


def test_pool_environment_names_every_pool_and_the_allotment() -> None:
    env = pool_environment(2.5)
    assert {env[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")} == {"3"}
    assert env["COSERVE_CPU_ALLOTMENT"] == "2.5"
    assert "COSERVE_CPU_ALLOTMENT" not in pool_environment(None)


def test_tensorflow_pools_follow_the_allotment(tmp_path: Path) -> None:
    env = TfServingAdapter().environment(launch(tmp_path, 3.0))
    assert (env["SAGEMAKER_TFS_INTRA_OP_PARALLELISM"], env["SAGEMAKER_TFS_INTER_OP_PARALLELISM"]) == ("3", "2")
    assert env["OMP_NUM_THREADS"] == "3"
    small = TfServingAdapter().environment(launch(tmp_path, 0.25))
    assert (small["SAGEMAKER_TFS_INTRA_OP_PARALLELISM"], small["SAGEMAKER_TFS_INTER_OP_PARALLELISM"]) == ("1", "1")


@pytest.mark.parametrize(
    ("share", "workers", "per_worker", "frontend"), [(0.5, 1, 1, 1), (2.0, 1, 2, 2), (8.0, 2, 4, 8), (10.0, 2, 5, 10)]
)
def test_torchserve_workers_torch_threads_and_frontend_follow_the_allotment(
    tmp_path: Path, share: float, workers: int, per_worker: int, frontend: int
) -> None:
    env = TorchServeAdapter().environment(launch(tmp_path, share))
    assert env["SAGEMAKER_MODEL_SERVER_WORKERS"] == str(workers)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == str(per_worker)
    assert env["COSERVE_CPU_THREADS"] == str(frontend)
    props = properties.config_properties(properties.ports(1, (2, 9)), "h:handle", env)
    assert props["number_of_netty_threads"] == props["netty_client_threads"] == str(frontend)
    assert props["default_workers_per_model"] == str(workers)


def test_the_process_adapter_sizes_blas_pools_for_byo_servers(tmp_path: Path) -> None:
    env = ProcessAdapter().environment(launch(tmp_path, 1.5))
    assert env["OMP_NUM_THREADS"] == "2" and env["COSERVE_CPU_ALLOTMENT"] == "1.5"


def test_a_deployments_allotments_leave_pinned_cores_out_of_the_shared_weights() -> None:
    from runtime.config import parse_deployment
    from runtime.supervisor.allotment import allotments

    containers = [{"ContainerHostname": h, "Image": "process"} for h in ("pin", "heavy", "light", "capped")]
    d = parse_deployment({
        "EndpointName": "ep", "ModelName": "m", "Containers": containers,
        "Coserve": {"Containers": {
            "pin": {"Command": ["x"], "Cpus": 2, "CpuMode": "pinned"},
            "heavy": {"Command": ["x"], "CpuWeight": 300},
            "light": {"Command": ["x"]},
            "capped": {"Command": ["x"], "Cpus": 0.5},  # a quota: its allotment is its Cpus; its weight 100
        }},
    })  # fmt: skip
    # 8 cores, 2 pinned: heavy, light and capped share 6 by weight 300 : 100 : 100.
    assert allotments(d.containers, 8) == pytest.approx({"pin": 2.0, "heavy": 3.6, "light": 1.2, "capped": 0.5})
