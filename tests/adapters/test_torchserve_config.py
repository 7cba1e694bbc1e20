"""The TorchServe adapter's decisions, without starting it: image mapping, ports, heap, readiness, formats."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters import resolve_image
from adapters.base import Launch
from adapters.torchserve import TorchServeAdapter, properties
from runtime.config import ConfigError, parse_deployment
from servers.pytorch_handler import formats
from servers.torchserve import launch as launcher

GiB = 2**30


def launch(**kw: object) -> Launch:
    fields: dict[str, object] = dict(
        hostname="pt", bind_port=20000, safe_ports=(20001, 20099), model_dir=Path("/opt/ml/model"),
        work_dir=Path("/run/coserve/pt"), environment={}, command=None, memory_limit=GiB,
    )  # fmt: skip
    return Launch(**{**fields, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "image",
    [
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310-ubuntu20.04-sagemaker",
        "520713654638.dkr.ecr.us-west-2.amazonaws.com/sagemaker-pytorch-serving:1.8.1-cpu-py36",
        "torchserve",
    ],
)
def test_a_sagemaker_pytorch_image_uri_picks_torchserve(image: str) -> None:
    doc = {"EndpointName": "ep", "Containers": [{"ContainerHostname": "pt", "Image": image}]}
    assert parse_deployment(doc).containers[0].adapter == "torchserve"
    assert isinstance(resolve_image(image), TorchServeAdapter)


def test_a_command_is_rejected_for_torchserve() -> None:
    doc = {"EndpointName": "ep", "Containers": [{"ContainerHostname": "pt", "Image": "torchserve"}],
           "Coserve": {"Containers": {"pt": {"Command": ["srv"]}}}}  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse_deployment(doc)
    assert any("Image: process" in p for p in info.value.problems)


def test_every_port_but_inference_comes_from_the_safe_range_on_loopback() -> None:
    props = properties.config_properties(properties.ports(20000, (20001, 20099)), "h:handle", {})
    assert props["inference_address"] == "http://127.0.0.1:20000"
    assert props["management_address"] == "http://127.0.0.1:20001"
    assert props["metrics_address"] == "http://127.0.0.1:20002"
    assert (props["grpc_inference_port"], props["grpc_management_port"]) == ("20003", "20004")
    assert props["disable_token_authorization"] == "true"
    assert properties.port_problem((20001, 20004)) is not None and properties.port_problem((20001, 20005)) is None


def test_the_environment_tunes_workers_and_timeout() -> None:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "9"}
    props = properties.config_properties(properties.ports(1, (2, 9)), "h:handle", env)
    assert (props["default_workers_per_model"], props["default_response_timeout"]) == ("3", "9")


@pytest.mark.parametrize(("limit", "heap"), [(None, 512), (GiB, 256), (100 * 2**20, 64), (64 * GiB, 2048)])
def test_the_jvm_heap_is_a_quarter_of_the_memory_limit_within_bounds(limit: int | None, heap: int) -> None:
    assert properties.heap_mb(limit) == heap


def test_command_environment_and_readiness_stay_under_work_dir_and_private_ports() -> None:
    a, run = TorchServeAdapter(), launch()
    argv = a.command(run)
    assert argv[:3] == [sys.executable, "-m", "servers.torchserve.launch"]
    assert argv[argv.index("--heap-mb") + 1] == "256"
    env = a.environment(run)
    assert env["TMPDIR"].startswith("/run/coserve/pt/") and env["LOG_LOCATION"].startswith("/run/coserve/pt/")
    assert a.readiness_url(run) == "http://127.0.0.1:20001/models/model"


@pytest.mark.parametrize(
    ("status", "body", "ready"),
    [
        (200, [{"modelName": "model", "workers": [{"id": "9000", "status": "READY"}]}], True),
        (200, [{"modelName": "model", "workers": [{"id": "9000", "status": "UNLOADING"}]}], False),
        (200, [{"modelName": "model", "workers": []}], False),
        (404, {"code": 404, "message": "Model not found: model"}, False),
        (200, {"status": "Healthy"}, False),
    ],
)
def test_ready_only_once_a_worker_has_loaded_the_model(status: int, body: object, ready: bool) -> None:
    assert TorchServeAdapter().ready(status, json.dumps(body).encode()) is ready
    assert TorchServeAdapter().ready(200, b"not json") is False


def test_default_formats_follow_content_type_and_accept() -> None:
    assert formats.decode("1,2\n3,4", "text/csv").tolist() == [[1, 2], [3, 4]]
    assert formats.encode(np.array([1.5, 2.0]), "text/csv") == (b"1.5,2.0\n", "text/csv")
    body, kind = formats.encode([[1, 2]], "text/html, application/x-npy;q=0.9, application/json")
    assert kind == "application/x-npy" and np.load(io.BytesIO(body)).tolist() == [[1, 2]]
    with pytest.raises(formats.UnsupportedFormatError):
        formats.encode([1], "text/html")


def test_the_launcher_writes_under_work_dir_and_serves_a_mar_from_its_own_store(tmp_path: Path) -> None:
    model, work = tmp_path / "model", tmp_path / "work"
    model.mkdir()
    (model / "mine.mar").write_bytes(b"PK")
    args = launcher._parse(["--model-dir", str(model), "--work-dir", str(work), "--bind-port", "20000",
                            "--safe-ports", "20001-20009", "--heap-mb", "128"])  # fmt: skip
    root, tmp = launcher._prepare(args)
    argv = launcher._java_argv(args, root, tmp)
    assert f"-Djava.io.tmpdir={tmp}" in argv and "-Xmx128m" in argv and argv[-2:] == ["-m", "model=model.mar"]
    assert (root / "model-store" / "model.mar").resolve() == model / "mine.mar"
    assert sorted(p.name for p in work.iterdir()) == ["tmp", "ts"]
    assert not re.search(r":808[012]\b|=707[01]\b", (root / "config.properties").read_text()), "no default port"
