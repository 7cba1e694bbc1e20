"""Image: process without a Command runs the model's own `serve` (then `code/serve`), as SageMaker runs
`serve` in a bring-your-own image: the path a CreateModel call through the API takes (no Coserve section)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from adapters.process import serve_command
from tests.support import ROOT, start_coserve

# The model's `serve` starts the test echo server shipped inside the same artifact, with coserve's Python.
SERVE = '#!/bin/sh\nexec "$COSERVE_PYTHON" "$(dirname "$0")/echo.py"\n'


def _model(path: Path, serve_at: str) -> Path:
    """A model.tar.gz with an executable `serve_at` and the echo server beside it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text, mode in (
            (serve_at, SERVE, 0o755),
            (str(Path(serve_at).parent / "echo.py"), (ROOT / "tests/containers/echo.py").read_text(), 0o644),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.integration
def test_serve_at_the_root_and_in_code_are_started(tmp_path: Path) -> None:
    doc = {
        "EndpointName": "byo-serve",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [
            {"ContainerHostname": "root", "Image": "process",
             "ModelDataUrl": str(_model(tmp_path / "root.tar.gz", "serve"))},
            {"ContainerHostname": "code", "Image": "process",
             "ModelDataUrl": str(_model(tmp_path / "code.tar.gz", "code/serve"))},
        ],
    }  # fmt: skip
    coserve = start_coserve(doc, tmp_path / "run")
    try:
        assert coserve.ping()[0] == 200, coserve.log.read_text()
        client = coserve.client()
        for hostname in ("root", "code"):
            answer = client.invoke_endpoint(
                EndpointName="byo-serve", TargetContainerHostname=hostname, Body=b"hello", ContentType="text/plain"
            )
            doc = json.loads(answer["Body"].read())
            assert (doc["container"], doc["body"]) == (hostname, "hello")
    finally:
        assert coserve.stop() == 0


def test_no_serve_exits_127_saying_why(tmp_path: Path) -> None:
    done = subprocess.run(serve_command(tmp_path), capture_output=True, text=True, timeout=30)
    assert done.returncode == 127
    assert (
        f"no Coserve.Containers.<hostname>.Command and no executable serve or code/serve in {tmp_path}" in done.stderr
    )
