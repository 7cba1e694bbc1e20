"""Real parts for asynchronous inference: an echo container process, a SeaweedFS bucket, and the serve.py process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from runtime.cli.localstore import S3Endpoint
from tests.support import ECHO, ROOT, free_port, sigterm_when_parent_dies, wait_for

ECHO_TYPE = "application/vnd.echo+json"  # what the echo container answers with: the output's Content-Type


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[str]:
    """One echo container (the SageMaker container contract) on a free port; its URL."""
    port = free_port()
    env = {**os.environ, "SAGEMAKER_BIND_TO_PORT": str(port), "ECHO_CONTENT_TYPE": ECHO_TYPE, "ECHO_NAME": "primary"}
    with (tmp_path / "echo.log").open("wb") as log:
        proc = subprocess.Popen(
            ECHO, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=sigterm_when_parent_dies
        )
    try:
        wait_for(lambda: _up(f"http://127.0.0.1:{port}/ping"), 20, "the echo container")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    name = f"async-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


def async_config(bucket: str, concurrency: int = 4, failure: bool = True) -> dict[str, Any]:
    """A CreateEndpointConfig request with AsyncInferenceConfig, as the control plane stores it."""
    output: dict[str, Any] = {"S3OutputPath": f"s3://{bucket}/out"}
    if failure:
        output["S3FailurePath"] = f"s3://{bucket}/failed"
    return {
        "EndpointConfigName": "cfg",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large",
                                "InitialInstanceCount": 1}],
        "AsyncInferenceConfig": {
            "OutputConfig": output,
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": concurrency},
            "NotificationConfig": {"SuccessTopic": "arn:aws:sns:us-east-1:000000000000:ok"},  # accepted, not acted on
        },
    }  # fmt: skip


@dataclass
class Served:
    """serve.py running on the queue file `db`; `start()` again after a kill to restart it on the same file."""

    db: Path
    container: str
    endpoints: Path
    trace: Path
    env: dict[str, str]
    log: Path
    invoker: str = "router"
    auth: Path | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _clients: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        self.port = free_port()
        argv = [sys.executable, "-m", "tests.runtime.asyncinv.serve", "--db", str(self.db),
                "--port", str(self.port), "--container", self.container, "--endpoints", str(self.endpoints),
                "--trace", str(self.trace), "--invoker", self.invoker]  # fmt: skip
        if self.auth is not None:
            argv += ["--auth", str(self.auth)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=sigterm_when_parent_dies)  # fmt: skip
        wait_for(lambda: self.proc is not None and (self.proc.poll() is not None or _up(f"{self.url}/metrics")),
                 30, f"serve.py (log: {self.log})")  # fmt: skip
        assert self.proc.poll() is None, self.log.read_text()
        return self

    def client(self, key: str = "AKIDTEST", secret: str = "secret", **config: Any) -> Any:
        c = boto3.client(
            "sagemaker-runtime", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30, **config),
        )  # fmt: skip
        self._clients.append(c)
        return c

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            # uvicorn re-raises SIGTERM once it has shut down, so the status is -15 either way: the log tells.
            assert self.proc.wait(30) in (0, -15)
            assert "stopped: worker drained, queue closed" in self.log.read_text(), self.log.read_text()[-3000:]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            return str(r.read().decode())


@pytest.fixture
def serve(tmp_path: Path, echo: str, s3: S3Endpoint) -> Iterator[Any]:
    """A factory: serve(endpoints) starts serve.py with those endpoint configs ({name: config or {}})."""
    started: list[Served] = []

    def start(endpoints: dict[str, Any], invoker: str = "router", auth: dict[str, Any] | None = None) -> Served:
        path = tmp_path / "endpoints.json"
        path.write_text(json.dumps(endpoints))
        auth_path = None
        if auth is not None:
            auth_path = tmp_path / "auth.json"
            auth_path.write_text(json.dumps(auth))
        env = {**os.environ, **s3.env()}
        served = Served(tmp_path / "state" / "async-invocations.db", echo, path, tmp_path / "trace.jsonl", env,
                        tmp_path / "serve.log", invoker, auth_path)  # fmt: skip
        started.append(served.start())
        return served

    yield start
    for served in started:
        served.stop()
