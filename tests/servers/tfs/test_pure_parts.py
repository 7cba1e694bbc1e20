"""The TF Serving adapter's pure parts: SageMaker request rewriting, model discovery, settings, tensors, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters import adapter_name, get_adapter
from adapters.base import Launch
from adapters.tfserving import TfServingAdapter
from runtime.config import parse_deployment
from servers.tfs import sagemaker, tensors
from servers.tfs.discovery import DiscoveryError, default_model, find_models
from servers.tfs.errors import TfsError
from servers.tfs.launcher import model_config
from servers.tfs.settings import Settings


@pytest.mark.parametrize(
    ("content_type", "body", "want"),
    [
        ("application/json", b'{"instances": [1]}', {"instances": [1]}),
        (
            "application/json",
            b'{"signature_name": "s", "inputs": {"a": 1}}',
            {"signature_name": "s", "inputs": {"a": 1}},
        ),
        ("application/json", b'{"examples": [{"x": 1}]}', {"examples": [{"x": 1}]}),
        ("application/json; charset=utf-8", b"[1, 2]", {"instances": [[1, 2]]}),
        ("application/json", b" [[1, 2], [3, 4]]", {"instances": [[1, 2], [3, 4]]}),
        ("application/json", b'{"a": 1}', {"instances": [{"a": 1}]}),
        ("application/json", b'{"a": 1}\n{"a": 2}', {"instances": [{"a": 1}, {"a": 2}]}),
        ("application/jsonlines", b"[1, 2]\r\n\n[3, 4]\n", {"instances": [[1, 2], [3, 4]]}),
        ("application/jsons", b"[1]\n[2]", {"instances": [[1], [2]]}),
        ("text/csv", b"1,2.5,-3e2\n4,5,6", {"instances": [[1, 2.5, -300.0], [4, 5, 6]]}),
        ("text/csv", b"7\n8\n", {"instances": [7, 8]}),
        ("text/csv", b'a,"b,c",1\n', {"instances": [["a", "b,c", 1]]}),
    ],
)
def test_invocation_bodies_become_tfs_requests(content_type: str, body: bytes, want: Any) -> None:
    assert json.loads(sagemaker.to_tfs_request(content_type, body)) == want


def test_tfs_json_passes_through_byte_for_byte() -> None:
    body = b'{"instances" :  [1.50]}'
    assert sagemaker.to_tfs_request("application/json", body) is body


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-npy", None])
def test_other_content_types_are_415(content_type: str | None) -> None:
    with pytest.raises(TfsError) as info:
        sagemaker.to_tfs_request(content_type, b"1")
    assert info.value.status == 415
    assert json.loads(info.value.body()) == {"error": f"Unsupported Media Type: {content_type or 'Unknown'}"}


def test_custom_attributes_pick_model_version_and_method() -> None:
    attrs = sagemaker.custom_attributes("trace=1,tfs-model-name=a,tfs-model-version=002,tfs-method=regress")
    assert attrs == {"tfs-model-name": "a", "tfs-model-version": "002", "tfs-method": "regress"}
    target = sagemaker.target_of(attrs, "default")
    assert (target, target.path) == (sagemaker.Target("a", 2, "regress"), "/v1/models/a/versions/2:regress")
    assert sagemaker.target_of({}, "default").path == "/v1/models/default:predict"
    for bad in ({"tfs-model-version": "latest"}, {"tfs-method": "explain"}):
        with pytest.raises(TfsError) as info:
            sagemaker.target_of(bad, "m")
        assert info.value.status == 400


def test_reply_type_follows_accept_when_it_asks_for_json() -> None:
    assert sagemaker.reply_type("application/jsonlines, application/json") == "application/jsonlines"
    assert sagemaker.reply_type("text/csv") is None
    assert sagemaker.reply_type(None) is None


def saved(root: Path, *versions: str) -> None:
    for v in versions:
        (root / v).mkdir(parents=True)
        (root / v / "saved_model.pb").write_bytes(b"")


def test_discovery_finds_versioned_savedmodels(tmp_path: Path) -> None:
    saved(tmp_path, "00000000", "b/3", "b/0010", "a/1", "code/x/2")
    (tmp_path / "notaversion").mkdir()
    (tmp_path / "notaversion" / "saved_model.pb").write_bytes(b"")
    models = find_models(tmp_path)
    assert [(m.name, [v for v, _ in m.versions]) for m in models] == [
        ("model", [0]),
        ("a", [1]),
        ("b", [3, 10]),
        ("x", [2]),
    ]
    assert models[2].latest == 10 and models[2].base_path == tmp_path / "b"
    assert default_model(models, None).name == "model"
    assert default_model(models, "b").name == "b"
    with pytest.raises(DiscoveryError, match="SAGEMAKER_TFS_DEFAULT_MODEL_NAME='c' names no model"):
        default_model(models, "c")
    assert 'name: "b"' in model_config(models) and "versions: 10" in model_config(models)


def test_discovery_without_savedmodels_says_so(tmp_path: Path) -> None:
    (tmp_path / "model.pth").write_bytes(b"")
    with pytest.raises(DiscoveryError, match="no SavedModel bundles found!"):
        find_models(tmp_path)
    saved(tmp_path, "x/1", "y/x/1")
    with pytest.raises(DiscoveryError, match="share the name x"):
        find_models(tmp_path)


def test_settings_lay_out_ports_as_serve_py() -> None:
    s = Settings.from_env({"SAGEMAKER_BIND_TO_PORT": "9100", "SAGEMAKER_SAFE_PORT_RANGE": "9101-9109"})
    assert (s.bind_port, s.grpc_port, s.rest_port) == (9100, 9101, 9102)
    assert (Settings.from_env({}).grpc_port, Settings.from_env({}).rest_port) == (9000, 8501)
    assert Settings.from_env({"SAGEMAKER_TFS_INTRA_OP_PARALLELISM": "3"}).intra_op == 3
    with pytest.raises(ValueError, match="needs 2 ports"):
        Settings.from_env({"SAGEMAKER_SAFE_PORT_RANGE": "9101-9101"})
    with pytest.raises(ValueError, match="SAGEMAKER_TFS_INTER_OP_PARALLELISM='x'"):
        Settings.from_env({"SAGEMAKER_TFS_INTER_OP_PARALLELISM": "x"})


INPUTS = {"a": tensors.TensorInfo(np.dtype("float32"), (None, 2)), "s": tensors.TensorInfo(np.dtype(object), (None,))}


def test_row_and_columnar_inputs() -> None:
    rows = tensors.from_instances([{"a": [1, 2], "s": "x"}, {"a": [3, 4], "s": {"b64": "eQ=="}}], INPUTS)
    assert rows["a"].dtype == np.float32 and rows["a"].tolist() == [[1, 2], [3, 4]]
    assert rows["s"].tolist() == [b"x", b"y"]
    one = {"a": INPUTS["a"]}
    assert tensors.from_instances([[1, 2]], one)["a"].shape == (1, 2)
    assert tensors.from_inputs({"a": [[1, 2]], "s": ["z"]}, INPUTS)["s"].tolist() == [b"z"]
    with pytest.raises(TfsError, match="expected list of objects"):
        tensors.from_instances([[1, 2]], INPUTS)
    with pytest.raises(TfsError, match="cannot make a float32 tensor"):
        tensors.from_instances([[1, 2], [3]], one)


def test_row_and_columnar_outputs() -> None:
    out = {"p": np.array([[0.5], [1.5]], np.float32), "label_bytes": np.array([b"\x00", b"a"], object)}
    assert tensors.predictions(out) == [
        {"p": [0.5], "label_bytes": {"b64": "AA=="}},
        {"p": [1.5], "label_bytes": {"b64": "YQ=="}},
    ]
    assert tensors.columnar({"p": out["p"]}) == [[0.5], [1.5]]
    assert tensors.columnar({"t": np.array([b"hi"], object), "p": out["p"]}) == {"t": ["hi"], "p": [[0.5], [1.5]]}


@pytest.mark.parametrize(
    "image",
    [
        "tensorflow-serving",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu",
        "520713654638.dkr.ecr.us-west-2.amazonaws.com/sagemaker-tensorflow-serving:1.15.0-cpu",
        "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/tensorflow-inference:2.3.1-gpu-py37",
    ],
)
def test_tensorflow_images_pick_this_adapter(image: str) -> None:
    assert adapter_name(image) == "tensorflow-serving"
    doc = {"EndpointName": "ep", "ModelName": "m", "Containers": [{"ContainerHostname": "tf", "Image": image}]}
    spec = parse_deployment(doc).containers[0]
    assert spec.adapter == "tensorflow-serving"
    assert isinstance(get_adapter(spec.adapter), TfServingAdapter)


def launch(tmp_path: Path, **env: str) -> Launch:
    return Launch("tf", 9100, (9101, 9109), tmp_path, tmp_path, env, None, None)


def test_adapter_command_environment_and_readiness(tmp_path: Path) -> None:
    a = TfServingAdapter()
    argv = a.command(launch(tmp_path, COSERVE_TFS_SERVER="builtin"))
    assert argv[1:] == ["-m", "servers.tfs"]
    assert a.command(launch(tmp_path, COSERVE_TFS_SERVER="/opt/tfs/bin/tfs"))[-2:] == ["--binary", "/opt/tfs/bin/tfs"]
    assert a.binary({"PATH": str(tmp_path)}) is None
    (tmp_path / "tensorflow_model_server").write_text("#!/bin/sh\n")
    (tmp_path / "tensorflow_model_server").chmod(0o755)
    assert a.binary({"PATH": str(tmp_path)}) == str(tmp_path / "tensorflow_model_server")
    env = a.environment(launch(tmp_path))
    assert (env["SAGEMAKER_BIND_TO_PORT"], env["SAGEMAKER_SAFE_PORT_RANGE"], env["OMP_NUM_THREADS"]) == (
        "9100",
        "9101-9109",
        "1",
    )
    assert a.readiness_url(launch(tmp_path)) == "http://127.0.0.1:9100/ping"
    assert a.ready(200, b"") and not a.ready(502, b"")
    assert a.check(None) == [] and a.check(("x",))
