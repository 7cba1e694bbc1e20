"""TensorFlow's thread pools follow the container's CPU allotment: read from the real processes.

Two containers on one SavedModel: `builtin` (the built-in server, Cpus 0.5 as a quota) and `flags`
(Cpus 2 as a weight; CpuRequest 1 so that admission fits both on two cores) whose
`tensorflow_model_server` is a stand-in that records the flags it was given, then runs the built-in
server in its place.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.tf_models import pack, save_adder
from tests.support import Coserve, start_coserve

pytestmark = pytest.mark.integration
STANDIN = """#!{python}
import json, os, sys
open({record!r}, "w").write(json.dumps(sys.argv[1:]))
flags = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
os.environ["SAGEMAKER_BIND_TO_PORT"] = flags["rest_api_port"]
os.environ["SAGEMAKER_SAFE_PORT_RANGE"] = flags["port"] + "-" + flags["rest_api_port"]
os.execv(sys.executable, [sys.executable, "-m", "servers.tfs"])
"""


@pytest.fixture(scope="module")
def tf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Coserve, Path]]:
    work = tmp_path_factory.mktemp("tf-threads")
    save_adder(work / "tree" / "adder" / "1", 1.0)
    artifact = str(pack(work / "tree", work / "adder.tar.gz"))
    record = work / "tfs-argv.json"
    standin = work / "tensorflow_model_server"
    standin.write_text(STANDIN.format(python=sys.executable, record=str(record)))
    standin.chmod(0o755)
    doc = {
        "EndpointName": "tf-threads", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [
            {"ContainerHostname": "builtin", "Image": "tensorflow-serving", "ModelDataUrl": artifact},
            {"ContainerHostname": "flags", "Image": "tensorflow-serving", "ModelDataUrl": artifact,
             "Environment": {"COSERVE_TFS_SERVER": str(standin)}},
        ],
        "Coserve": {"Containers": {"builtin": {"Cpus": 0.5}, "flags": {"Cpus": 2, "CpuMode": "weight",
                                                                           "CpuRequest": 1}},
                    "Server": {"StartRetries": 0}},
    }  # fmt: skip
    c = start_coserve(doc, work, wait_ready=False)
    try:
        for hostname in ("builtin", "flags"):
            c.wait_state(hostname, "RUNNING", timeout=180)
        yield c, record
    finally:
        assert c.stop() == 0


def test_the_binary_gets_op_parallelism_flags_from_the_allotment(tf: tuple[Coserve, Path]) -> None:
    _, record = tf
    argv = json.loads(record.read_text())
    assert "--tensorflow_intra_op_parallelism=2" in argv and "--tensorflow_inter_op_parallelism=2" in argv


def test_the_builtin_servers_environment_carries_a_half_core_allotment(tf: tuple[Coserve, Path]) -> None:
    c, _ = tf
    (server,) = [p for p in c.descendants() if p.environ().get("COSERVE_CONTAINER_HOSTNAME") == "builtin"]
    env = server.environ()
    assert env["COSERVE_CPU_ALLOTMENT"] == "0.5" and env["OMP_NUM_THREADS"] == "1"
    assert (env["SAGEMAKER_TFS_INTRA_OP_PARALLELISM"], env["SAGEMAKER_TFS_INTER_OP_PARALLELISM"]) == ("1", "1")
    r = c.client().invoke_endpoint(EndpointName="tf-threads", TargetContainerHostname="builtin",
                                   Body=b'{"instances": [[1, 2, 3]]}', ContentType="application/json")  # fmt: skip
    assert json.loads(r["Body"].read()) == {"predictions": [[2.0, 3.0, 4.0]]}
