"""The TF Serving container process on its own: how it fails to start, and the real binary when installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.adapters.tf_models import build_main, build_mnist
from tests.support import free_block, start_coserve, wait_for

pytestmark = pytest.mark.integration
BINARY = shutil.which("tensorflow_model_server")


def start_server(model_dir: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "SAGEMAKER_SAFE_PORT_RANGE": f"{port + 1}-{port + 9}", "TF_CPP_MIN_LOG_LEVEL": "2", **env}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "servers.tfs"], env=env, stderr=subprocess.PIPE)


def ping(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        e.close()
        return e.code
    except OSError:
        return 0


def test_no_savedmodel_fails_the_start_with_sagemakers_message(tmp_path: Path) -> None:
    (tmp_path / "model.pth").write_bytes(b"not a SavedModel")
    proc = start_server(tmp_path, free_block(10, 1))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert b"no SavedModel bundles found!" in err


def test_a_model_that_cannot_load_pings_502_then_exits(tmp_path: Path) -> None:
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"\x00garbage")
    port = free_block(10, 1)
    proc = start_server(tmp_path, port)
    try:
        seen = wait_for(lambda: ping(port) or proc.poll() is not None, 30, "the server to bind or exit")
        assert seen == 502, "bound before TensorFlow loads, and not ready while loading"
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1
    assert b"startup failed" in err and b"broken" in err


@pytest.mark.skipif(BINARY is None, reason="tensorflow_model_server is not installed here (it is on neither PyPI nor "
                    "Debian); the built-in server and a stand-in binary ran in test_tfserving_e2e instead")  # fmt: skip
def test_real_tensorflow_model_server_behind_the_sagemaker_front(tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("tf-binary")
    artifact = build_main(out, build_mnist(out / "mnist"))
    container = {"ContainerHostname": "tf-bin", "Image": "tensorflow-serving", "ModelDataUrl": str(artifact)}
    doc = {"EndpointName": "tfbin-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [container]}
    c = start_coserve(doc, out / "coserve")
    try:
        rt = c.client()
        r = rt.invoke_endpoint(EndpointName="tfbin-ep", TargetContainerHostname="tf-bin", ContentType="text/csv",
                               CustomAttributes="tfs-model-name=adder,tfs-model-version=1", Body="1,2,3")  # fmt: skip
        assert json.loads(r["Body"].read()) == {"predictions": [[2.0, 3.0, 4.0]]}
        assert "tensorflow_model_server" in " ".join(" ".join(p.cmdline()) for p in c.descendants())
    finally:
        assert c.stop() == 0
