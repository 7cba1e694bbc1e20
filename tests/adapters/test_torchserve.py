"""The TorchServe adapter end to end: coserve as a subprocess, real TorchServe (JVM + Python workers), boto3.

One coserve serves every case as a container of its own, so TorchServe starts once per artifact.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import torch

from tests.adapters.torch_models import artifacts
from tests.support import Coserve, client_error, start_coserve, wait_for

pytestmark = pytest.mark.integration
SERVING = ("mnist", "transform", "defaults", "mar")
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310-ubuntu20.04-sagemaker"
ODD = "application/vnd.coserve+json"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return artifacts(tmp_path_factory.mktemp("torch-artifacts"))


@pytest.fixture(scope="module")
def ts(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    def container(hostname: str, image: str = "torchserve", **env: str) -> dict[str, Any]:
        url = built[hostname]
        return {"ContainerHostname": hostname, "Image": image, "ModelDataUrl": str(url), "Environment": env}

    doc = {
        "EndpointName": "ts-ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [
            container("mnist", SAGEMAKER_PROGRAM="inference.py"),
            container(
                "transform",
                PYTORCH_IMAGE,
                SAGEMAKER_PROGRAM="serve.py",
                SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=ODD,
            ),
            container("defaults"),
            {**container("mar"), "ModelDataUrl": f"file://{built['mar']}"},
            container("both"),
        ],
        "Coserve": {
            # Thread pools follow the allotment: 2 cores here, a fifth of the host's weight for the rest.
            "Containers": {
                "mnist": {"Memory": "1GiB"},
                "defaults": {"Cpus": 2, "CpuMode": "weight", "CpuRequest": 0.5},
            },
            "Server": {"StartRetries": 1, "BackoffBase": "0.1s", "InvocationTimeout": "20s"},
        },
    }
    c = start_coserve(doc, tmp_path_factory.mktemp("ts"), wait_ready=False)
    try:
        for hostname in SERVING:
            c.wait_state(hostname, "RUNNING", timeout=180)
        servers = c.descendants()
        yield c
    finally:
        assert c.stop() == 0
    assert not [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def invoke(c: Coserve, hostname: str, body: bytes, **kw: str) -> tuple[bytes, str]:
    r = c.client().invoke_endpoint(EndpointName="ts-ep", TargetContainerHostname=hostname, Body=body, **kw)
    return r["Body"].read(), r.get("ContentType", "")


def log_of(c: Coserve, hostname: str) -> str:
    return Path(c.routes()[hostname]["log_path"]).read_text(errors="replace")


def test_sagemaker_style_artifact_predicts_as_the_model_does_in_process(ts: Coserve, built: dict[str, Any]) -> None:
    images = np.random.default_rng(1).integers(0, 255, (5, 28, 28)).astype(np.float32)
    x = images[:, None, :, :] / 255.0
    body, ctype = invoke(ts, "mnist", json.dumps({"inputs": x.tolist()}).encode(), ContentType="application/json")
    with torch.no_grad():
        expected = built["net"](torch.tensor(x, dtype=torch.float32)).numpy()
    assert ctype == "application/json"
    np.testing.assert_allclose(np.array(json.loads(body)), expected, rtol=1e-4, atol=1e-5)


def test_an_exception_in_user_code_is_a_model_error_with_its_message_and_no_traceback(ts: Coserve) -> None:
    info = client_error(lambda: invoke(ts, "mnist", b'{"not_inputs": 1}', ContentType="application/json"))
    resp = info
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert resp["Error"]["Code"] == "ModelError"
    assert resp["OriginalStatusCode"] == 500
    assert resp["OriginalMessage"] == 'expected a JSON object {"inputs": [...]} holding images of shape [N, 1, 28, 28]'
    assert "Traceback" not in resp["Error"]["Message"]
    # The log is pumped from the worker through the JVM, so it may trail the response a little.
    wait_for(lambda: "Traceback (most recent" in (log := log_of(ts, "mnist")) and "in input_fn" in log, 10, "the log")


def test_transform_fn_from_code_dir_and_accept_defaults_to_the_environment(ts: Coserve, built: dict[str, Any]) -> None:
    rows = [[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]]
    body, ctype = invoke(ts, "transform", json.dumps({"rows": rows}).encode(), ContentType="application/json")
    got = json.loads(body)
    assert (ctype, got["accept"], got["content_type"]) == (ODD, ODD, "application/json")
    np.testing.assert_allclose(got["outputs"], built["affine"](torch.tensor(rows)).detach().numpy(), rtol=1e-5)


def test_defaults_decode_and_encode_json_csv_and_npy(ts: Coserve, built: dict[str, Any]) -> None:
    x = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.25, 8.0]], dtype=np.float32)
    expected = built["affine"](torch.from_numpy(x)).detach().numpy()
    body, ctype = invoke(ts, "defaults", json.dumps(x.tolist()).encode(), ContentType="application/json")
    assert ctype == "application/json"
    np.testing.assert_allclose(json.loads(body), expected, rtol=1e-5)
    csv = "\n".join(",".join(str(v) for v in row) for row in x.tolist()).encode()
    body, ctype = invoke(ts, "defaults", csv, ContentType="text/csv", Accept="text/csv")
    assert ctype == "text/csv"
    np.testing.assert_allclose(np.loadtxt(io.StringIO(body.decode()), delimiter=","), expected, rtol=1e-5)
    npy = io.BytesIO()
    np.save(npy, x)
    body, ctype = invoke(ts, "defaults", npy.getvalue(), ContentType="application/x-npy", Accept="application/x-npy")
    assert ctype == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(body)), expected, rtol=1e-6)


def test_an_unsupported_content_type_is_a_client_error_from_the_model(ts: Coserve) -> None:
    info = client_error(lambda: invoke(ts, "defaults", b"<x/>", ContentType="application/xml"))
    assert info["OriginalStatusCode"] == 415
    assert "application/xml is not supported" in info["OriginalMessage"]


def test_a_mar_archive_is_served_as_is(ts: Coserve) -> None:
    body, _ = invoke(ts, "mar", b"hello", ContentType="application/octet-stream")
    assert body == b"served as is: hello"


def test_both_handler_styles_is_fatal_with_a_clear_message(ts: Coserve) -> None:
    ts.wait_state("both", "FATAL", timeout=120)
    message = "transform_fn cannot be used together with predict_fn"
    wait_for(lambda: message in log_of(ts, "both"), 10, "the reason in the container log")


def test_each_torchserve_is_the_spawned_pid_and_keeps_to_its_own_ports(ts: Coserve) -> None:
    routes = ts.routes()
    jvms = {p.pid: p for p in psutil.Process(ts.proc.pid).children() if p.name() == "java"}
    assert len(jvms) == len(SERVING), "the pid the supervisor spawned is the JVM itself"
    for hostname in SERVING:
        (work,) = (ts.workdir / "run").glob(f"{hostname}.*")  # <RunDir>/<hostname>.<port block>
        (jvm,) = [p for p in jvms.values() if f"{work}/tmp" in " ".join(p.cmdline())]
        port = routes[hostname]["port"]
        listening = {c.laddr.port for c in jvm.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        assert port in listening
        assert listening <= set(range(port, port + 10)), f"{hostname} listens outside its block: {listening}"
    (work,) = (ts.workdir / "run").glob("mnist.*")
    (mnist,) = [p for p in jvms.values() if f"{work}/tmp" in " ".join(p.cmdline())]
    assert "-Xmx256m" in mnist.cmdline(), "a quarter of the container's 1GiB"


def test_thread_pools_carry_the_containers_cpu_allotment(ts: Coserve) -> None:
    """The JVM's flags and the Python worker's environment, read from /proc: what the servers really got."""
    jvms = [p for p in psutil.Process(ts.proc.pid).children() if p.name() == "java"]
    cores = len(os.sched_getaffinity(0))
    # Cpus 2 (at most the host's cores); weight 100 of 600 (defaults weighs 200 in weight mode) x the cores, up.
    expected = {"defaults": str(min(2, cores)), "mnist": str(math.ceil(100 / 600 * cores))}
    for hostname, n in expected.items():
        (work,) = (ts.workdir / "run").glob(f"{hostname}.*")  # <RunDir>/<hostname>.<port block>
        (jvm,) = [p for p in jvms if f"{work}/tmp" in " ".join(p.cmdline())]
        assert f"-XX:ActiveProcessorCount={n}" in jvm.cmdline() and f"-XX:ParallelGCThreads={n}" in jvm.cmdline()
        workers = [p for p in jvm.children(recursive=True) if "python" in p.name()]
        assert workers, f"{hostname}: TorchServe's Python worker"
        env = workers[0].environ()
        assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"], env["COSERVE_CPU_THREADS"]) == (n, n, n)
        assert env["SAGEMAKER_MODEL_SERVER_WORKERS"] == "1"
        properties = (work / "ts" / "config.properties").read_text().splitlines()
        assert f"number_of_netty_threads={n}" in properties and f"netty_client_threads={n}" in properties
