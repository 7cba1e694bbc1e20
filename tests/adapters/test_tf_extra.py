"""`pip install '.[tensorflow]'` alone gives a working TF adapter: a fresh venv serves the demo's model.

Slow (a venv and TensorFlow installed from pip's cache, about a minute), so it is this one test, marked
`freshvenv`: the full suite runs it once. It runs the installed copy, from outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.adapters.tf_models import build_mnist, mnist_samples
from tests.support import ROOT, Coserve, free_block, free_port, sigterm_when_parent_dies, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.freshvenv]


def test_a_fresh_venv_with_the_tensorflow_extra_serves_the_demo_model(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    done = subprocess.run([*pip, f"{ROOT}[tensorflow]"], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    artifact = build_mnist(tmp_path / "mnist")
    doc = {
        "EndpointName": "tf-extra",
        "Containers": [{"ContainerHostname": "tf", "Image": "tensorflow-serving", "ModelDataUrl": str(artifact)}],
        "Coserve": {"Server": {"LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run"), "PortBlock": 10,
                               "PortBase": free_block(10, 1)},
                    "Storage": {"CacheDir": str(tmp_path / "cache")}},
    }  # fmt: skip
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    check = subprocess.run([str(venv / "bin" / "coserve"), "check", str(path)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert "note: container tf (tensorflow-serving) can use the Python module 'tensorflow_serving'" in check.stderr
    c = _serve(venv, path, env, tmp_path)
    try:
        rows = mnist_samples(2).tolist()
        r = c.client().invoke_endpoint(EndpointName="tf-extra", Body=json.dumps({"instances": rows}),
                                       ContentType="application/json")  # fmt: skip
        predictions = json.loads(r["Body"].read())["predictions"]
        assert len(predictions) == 2 and all(len(p) == 10 for p in predictions)
        log = (tmp_path / "logs" / "tf.log").read_text()
        assert "gRPC API" in log and "off" in log and "pip install --no-deps tensorflow-serving-api" in log
    finally:
        assert c.stop() == 0


def _serve(venv: Path, path: Path, env: dict[str, str], tmp_path: Path) -> Coserve:
    port = free_port()
    log = tmp_path / "coserve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(venv / "bin" / "coserve"), "serve", str(path), "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=sigterm_when_parent_dies)  # fmt: skip
    c = Coserve(proc, port, tmp_path, "tf-extra", log)
    wait_for(lambda: proc.poll() is not None or c.ping()[0] == 200, 180, f"the TF container RUNNING (log: {log})")
    assert proc.poll() is None, log.read_text()[-3000:]
    return c
