"""TF Serving containers end to end: coserve as a subprocess, real TensorFlow, boto3 as the client.

One coserve for the module, three containers on the same artifacts:
- tf-main: `Image: tensorflow-serving`, the built-in server (model called in-process by /invocations);
- tf-front: a SageMaker tensorflow-inference image URI whose `tensorflow_model_server` is a stand-in (the
  built-in server behind the binary's command-line flags), so the SageMaker front → REST path runs for real;
- tf-code: an artifact with code/inference.py.
"""

from __future__ import annotations

import json
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.adapters.tf_models import build_main, build_mnist, build_with_code, mnist_samples
from tests.support import Coserve, client_error, start_coserve

pytestmark = pytest.mark.integration
TF_URI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu"
SERVED = ["tf-main", "tf-front"]
STANDIN = f"""#!{sys.executable}
# tensorflow_model_server's flags → the built-in server's environment; model dir and the rest are inherited.
import os, sys
flags = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
os.environ["SAGEMAKER_BIND_TO_PORT"] = flags["rest_api_port"]
os.environ["SAGEMAKER_SAFE_PORT_RANGE"] = flags["port"] + "-" + flags["rest_api_port"]
os.execv(sys.executable, [sys.executable, "-m", "servers.tfs"])
"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tf-artifacts")
    mnist = build_mnist(out / "mnist")
    return {"mnist": mnist, "main": build_main(out, mnist), "code": build_with_code(out)}


@pytest.fixture(scope="module")
def tfs(artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("tf-coserve")
    standin = work / "tensorflow_model_server"
    standin.write_text(STANDIN)
    standin.chmod(0o755)
    main = str(artifacts["main"])
    doc = {
        "EndpointName": "tf-ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [
            {"ContainerHostname": "tf-main", "Image": "tensorflow-serving", "ModelDataUrl": main},
            {"ContainerHostname": "tf-front", "Image": TF_URI, "ModelDataUrl": f"file://{main}",
             "Environment": {"COSERVE_TFS_SERVER": str(standin)}},
            {"ContainerHostname": "tf-code", "Image": "tensorflow-serving", "ModelDataUrl": str(artifacts["code"])},
        ],
    }  # fmt: skip
    c = start_coserve(doc, work)
    yield c
    assert c.stop() == 0


def invoke(c: Coserve, host: str, body: bytes | str, content_type: str = "application/json", **kw: Any) -> Any:
    r = c.client().invoke_endpoint(EndpointName="tf-ep", TargetContainerHostname=host, ContentType=content_type,
                                   Body=body, **kw)  # fmt: skip
    return r["ContentType"], json.loads(r["Body"].read())


def model_error(c: Coserve, host: str, body: bytes | str, **kw: Any) -> dict[str, Any]:
    info = client_error(lambda: invoke(c, host, body, **kw))
    resp: dict[str, Any] = info
    assert resp["Error"]["Code"] == "ModelError"
    return resp


def test_keras_model_through_boto3_matches_the_model_in_process(
    tfs: Coserve, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    import tensorflow as tf

    x = mnist_samples(4, seed=7)
    ctype, got = invoke(tfs, "tf-main", json.dumps({"instances": x.tolist()}), Accept="application/json")
    with tarfile.open(artifacts["mnist"]) as tar:
        tar.extractall(tmp_path, filter="data")
    local = tf.saved_model.load(str(tmp_path / "00000000")).signatures["serving_default"]
    want = next(iter(local(image=tf.constant(x)).values())).numpy()
    assert ctype == "application/json"
    assert np.asarray(got["predictions"]).shape == (4, 10)
    np.testing.assert_allclose(np.asarray(got["predictions"], dtype=np.float32), want, rtol=1e-4, atol=1e-5)


ADDER = "tfs-model-name=adder"  # latest version: 2, y = x + 2


@pytest.mark.parametrize("host", SERVED)
@pytest.mark.parametrize(
    ("content_type", "body", "key", "want"),
    [
        ("application/json", '{"instances": [[1, 2, 3]]}', "predictions", [[3, 4, 5]]),
        ("application/json", '{"inputs": {"x": [[1, 2, 3], [4, 5, 6]]}}', "outputs", [[3, 4, 5], [6, 7, 8]]),
        ("application/json", "[1, 2, 3]", "predictions", [[3, 4, 5]]),  # one instance, wrapped
        ("application/json", "[[1, 2, 3], [0, 0, 0]]", "predictions", [[3, 4, 5], [2, 2, 2]]),  # already a batch
        ("application/jsonlines", "[1, 2, 3]\n[4, 5, 6]\n", "predictions", [[3, 4, 5], [6, 7, 8]]),
        ("text/csv", "1,2,3\n4,5,6\n", "predictions", [[3, 4, 5], [6, 7, 8]]),
    ],
)
def test_request_formats(tfs: Coserve, host: str, content_type: str, body: str, key: str, want: Any) -> None:
    _, got = invoke(tfs, host, body, content_type, CustomAttributes=ADDER)
    assert got == {key: want}


@pytest.mark.parametrize("host", SERVED)
def test_unsupported_content_type_is_415_and_a_model_error(tfs: Coserve, host: str) -> None:
    resp = model_error(tfs, host, b"1 2 3", content_type="text/plain", CustomAttributes=ADDER)
    assert resp["OriginalStatusCode"] == 415
    assert json.loads(resp["OriginalMessage"]) == {"error": "Unsupported Media Type: text/plain"}


@pytest.mark.parametrize("host", SERVED)
@pytest.mark.parametrize(
    ("attributes", "body", "want"),
    [
        ("tfs-model-name=adder,tfs-model-version=1", "[1, 2, 3]", {"predictions": [[2, 3, 4]]}),
        ("tfs-model-version=2,tfs-model-name=adder", "[1, 2, 3]", {"predictions": [[3, 4, 5]]}),
        ("trace=7,tfs-model-name=scorer,tfs-method=regress", '{"examples": [{"x": 1.5}]}', {"result": [15.0]}),
        (
            "tfs-model-name=scorer,tfs-method=classify",
            '{"signature_name": "classify", "examples": [{"x": 0.75}]}',
            {"result": [[["lo", 0.25], ["hi", 0.75]]]},
        ),
    ],
)
def test_custom_attributes_select_model_version_and_method(
    tfs: Coserve, host: str, attributes: str, body: str, want: Any
) -> None:
    assert invoke(tfs, host, body, CustomAttributes=attributes)[1] == want


@pytest.mark.parametrize("host", SERVED)
def test_unknown_model_or_version_is_tfs_not_found(tfs: Coserve, host: str) -> None:
    cases = [("tfs-model-name=nope", "Latest(nope)"), (f"{ADDER},tfs-model-version=9", "Specific(adder, 9)")]
    for attributes, servable in cases:
        resp = model_error(tfs, host, "[1, 2, 3]", CustomAttributes=attributes)
        assert resp["OriginalStatusCode"] == 404
        assert servable in json.loads(resp["OriginalMessage"])["error"]


def test_without_attributes_the_first_model_found_is_the_default(tfs: Coserve) -> None:
    resp = model_error(tfs, "tf-main", "[1, 2, 3]")  # `model` is the mnist net: [3] is not an image
    assert resp["OriginalStatusCode"] == 400


@pytest.mark.parametrize("host", SERVED)
def test_accept_names_the_reply_content_type(tfs: Coserve, host: str) -> None:
    ctype, got = invoke(tfs, host, "[1, 2, 3]", CustomAttributes=ADDER, Accept="application/jsonlines")
    assert (ctype, got) == ("application/jsonlines", {"predictions": [[3, 4, 5]]})


def test_inference_py_handlers_run_around_the_model(tfs: Coserve) -> None:
    ctype, got = invoke(tfs, "tf-code", json.dumps({"values": [1, 2, 3]}), CustomAttributes="tfs-model-name=adder")
    assert ctype == "application/vnd.total+json"
    assert got["total"] == pytest.approx(10 + 20 + 30 + 3)  # scaled by code/lib/helper.py, then + 1
    assert (got["model"], got["method"], got["content_type"]) == ("adder", "predict", "application/json")
    assert got["grpc_port"] == tfs.routes()["tf-code"]["port"] + 1


def test_an_inference_py_exception_is_a_500_model_error_with_its_message(tfs: Coserve) -> None:
    resp = model_error(tfs, "tf-code", json.dumps({"fail": "nope"}))
    assert resp["OriginalStatusCode"] == 500
    assert json.loads(resp["OriginalMessage"]) == {"error": "input_handler refused: nope"}
    assert "input_handler refused: nope" in resp["Error"]["Message"]


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_tfs_rest_api_answers_on_its_ports(tfs: Coserve) -> None:
    port = tfs.routes()["tf-main"]["port"]
    for base in (f"http://127.0.0.1:{port + 2}", f"http://127.0.0.1:{port}"):  # TFS's REST port, and the bind port
        status, got = http("GET", f"{base}/v1/models/adder")
        assert status == 200
        states = [(s["version"], s["state"]) for s in got["model_version_status"]]
        assert states == [("2", "AVAILABLE"), ("1", "AVAILABLE")]
        assert http("POST", f"{base}/v1/models/adder/versions/1:predict", {"instances": [[0, 0, 1]]}) == (
            200,
            {"predictions": [[1, 1, 2]]},
        )
    base = f"http://127.0.0.1:{port + 2}/v1/models"
    assert http("POST", f"{base}/adder:predict", {"signature_name": "serving_default", "inputs": [[1, 1, 1]]}) == (
        200,
        {"outputs": [[3, 3, 3]]},
    )
    status, got = http("POST", f"{base}/adder:predict", {"instances": [[1, 2]]})
    assert status == 400 and "shape [1, 2]" in got["error"]
    status, got = http("POST", f"{base}/adder:predict", {"signature_name": "nope", "instances": [[1, 2, 3]]})
    assert (status, got) == (400, {"error": 'Serving signature key "nope" not found.'})
    status, got = http("GET", f"{base}/nope")
    assert status == 404 and "nope" in got["error"]
    status, got = http("GET", f"{base}/scorer/metadata")
    assert status == 200
    assert got["metadata"]["signature_def"]["signatureDef"]["classify"]["methodName"] == "tensorflow/serving/classify"


def test_grpc_predict_classify_and_model_status(tfs: Coserve) -> None:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    port = tfs.routes()["tf-main"]["port"] + 1
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        predict = predict_pb2.PredictRequest()
        predict.model_spec.name = "adder"
        predict.model_spec.version.value = 1
        predict.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1, 2, 3]], dtype=np.float32)))
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(predict, timeout=10)
        assert tf.make_ndarray(answer.outputs["y"]).tolist() == [[2, 3, 4]]
        assert (answer.model_spec.name, answer.model_spec.version.value) == ("adder", 1)

        classify = classification_pb2.ClassificationRequest()
        classify.model_spec.name, classify.model_spec.signature_name = "scorer", "classify"
        classify.input.example_list.examples.add().features.feature["x"].float_list.value.append(0.25)
        result = prediction_service_pb2_grpc.PredictionServiceStub(channel).Classify(classify, timeout=10)
        assert [(c.label, c.score) for c in result.result.classifications[0].classes] == [("lo", 0.75), ("hi", 0.25)]

        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = "adder"
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        versions = models.GetModelStatus(status, timeout=10).model_version_status
        assert [(v.version, v.state) for v in versions] == [(2, 30), (1, 30)]  # 30: AVAILABLE
        status.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as info:
            models.GetModelStatus(status, timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_ping_is_200_on_the_container_and_the_front_door(tfs: Coserve) -> None:
    assert tfs.ping()[0] == 200
    for host in ("tf-main", "tf-front", "tf-code"):
        with urllib.request.urlopen(f"http://127.0.0.1:{tfs.routes()[host]['port']}/ping", timeout=5) as r:
            assert r.status == 200
