"""Issue 15's acceptance, through boto3 alone against a real coserve started with `--state-dir`:
create -> waiter -> invoke -> UpdateEndpoint under load (0 failures, the new model answers after) -> a second
endpoint created and deleted while the first serves (0 failures) -> restart on the same state -> everything
InService and serving -> delete all, nothing left running."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config

from tests.leftovers import Snapshot, snapshot
from tests.support import ROOT, Coserve, client_error, free_block, free_port, sigterm_when_parent_dies, wait_for

pytestmark = pytest.mark.integration
WAIT = {"Delay": 1, "MaxAttempts": 120}


def model_url(tmp: Path, name: str, text: str, delay_s: float = 0) -> str:
    """A bring-your-own model whose executable `serve` runs the test echo server (after `delay_s`, a slow start);
    model.txt says which model."""
    pause = f"sleep {delay_s:g}\n" if delay_s else ""
    serve = f"#!/bin/sh\n{pause}exec {sys.executable} {ROOT / 'tests' / 'containers' / 'echo.py'}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, data, mode in (("serve", serve, 0o755), ("model.txt", text.encode(), 0o644)):
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    path = tmp / f"{name}.tar.gz"
    path.write_bytes(buf.getvalue())
    return path.as_uri()


def start_host(workdir: Path, state: Path, port: int, port_base: int, storage: dict[str, str] | None = None,
               env: dict[str, str] | None = None, **server: object) -> Coserve:  # fmt: skip
    """`coserve serve host.yaml --state-dir DIR`: a file with only host settings, no endpoint of its own;
    `server`: more Coserve.Server settings."""
    workdir.mkdir(parents=True, exist_ok=True)
    settings = {
        "Coserve": {
            "Server": {"LogDir": str(workdir / "logs"), "RunDir": str(workdir / "run"), "PortBase": port_base,
                       "PortBlock": 10, "MaxContainers": 8, "DrainTimeout": "5s", "StopGrace": "5s", **server},
            "Storage": {"CacheDir": str(workdir / "cache"), **(storage or {})},
        }
    }  # fmt: skip
    host_file = workdir / "host.yaml"
    host_file.write_text(yaml.safe_dump(settings))
    log = workdir / f"coserve-{port}.log"
    argv = [sys.executable, "-m", "runtime", "serve", str(host_file), "--state-dir", str(state),
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})},
                                preexec_fn=sigterm_when_parent_dies)  # fmt: skip
    c = Coserve(proc, port, workdir, "", log)
    wait_for(lambda: proc.poll() is not None or c.ping()[0] != 0, 60, f"the front door (log: {log})")
    assert proc.poll() is None, log.read_text()
    return c


def clients(c: Coserve) -> tuple[Any, Any]:
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30)
    args = {"endpoint_url": c.url, "region_name": "us-east-1", "aws_access_key_id": "AKIDTEST",
            "aws_secret_access_key": "secret", "config": config}  # fmt: skip
    return boto3.client("sagemaker", **args), boto3.client("sagemaker-runtime", **args)


@dataclass
class Load:
    """Steady requests to one endpoint from two threads; every failure kept with its cause."""

    url: str
    endpoint: str
    ok: int = 0
    models: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        client = boto3.client(
            "sagemaker-runtime", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="AKIDTEST",
            aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
        )  # fmt: skip
        try:
            while not self._stop.is_set():
                try:
                    out = client.invoke_endpoint(EndpointName=self.endpoint, Body=b"x", ContentType="text/plain")
                    self.models.append(json.loads(out["Body"].read())["model"])
                    self.ok += 1
                except Exception as exc:  # every failure counts, whatever its kind
                    self.failures.append(repr(exc))
        finally:
            client.close()

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def create_endpoint(sm: Any, name: str, model: str, config: str, containers: list[dict[str, Any]],
                    mode: str = "Serial") -> None:  # fmt: skip
    execution = {"InferenceExecutionConfig": {"Mode": mode}} if mode == "Direct" else {}
    sm.create_model(ModelName=model, Containers=containers, ExecutionRoleArn="arn:aws:iam::000000000000:role/coserve",
                    **execution)  # fmt: skip
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.c5.large",
                             "InitialInstanceCount": 1}],
    )  # fmt: skip
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    yield tmp_path, free_port(), free_block(10, 8)


def test_the_whole_control_plane_through_boto3(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    state = tmp / "state"
    c = start_host(tmp / "host", state, port, base)
    sm, rt = clients(c)
    try:
        create_endpoint(sm, "ep1", "m1", "c1", [{"Image": "process", "ModelDataUrl": model_url(tmp, "v1", "v1")}])
        assert sm.describe_endpoint(EndpointName="ep1")["EndpointStatus"] in ("Creating", "InService")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep1", WaiterConfig=WAIT)
        out = rt.invoke_endpoint(EndpointName="ep1", Body=b"hello", ContentType="text/plain")
        assert json.loads(out["Body"].read())["model"] == "v1"
        assert out["InvokedProductionVariant"] == "AllTraffic"

        # UpdateEndpoint under steady load: blue/green, no request fails, the new model answers after.
        sm.create_model(
            ModelName="m2", PrimaryContainer={"Image": "process", "ModelDataUrl": model_url(tmp, "v2", "v2")}
        )
        variant = {"VariantName": "AllTraffic", "ModelName": "m2", "InstanceType": "ml.c5.large",
                   "InitialInstanceCount": 1}  # fmt: skip
        sm.create_endpoint_config(EndpointConfigName="c2", ProductionVariants=[variant])
        with Load(c.url, "ep1") as load:
            wait_for(lambda: load.ok >= 20, 60, "load before the update")
            sm.update_endpoint(EndpointName="ep1", EndpointConfigName="c2")
            assert sm.describe_endpoint(EndpointName="ep1")["EndpointStatus"] in ("Updating", "InService")
            sm.get_waiter("endpoint_in_service").wait(EndpointName="ep1", WaiterConfig=WAIT)
            seen = load.ok
            wait_for(lambda: load.ok >= seen + 20, 60, "load after the update")
            # A second endpoint (Direct, two containers) comes and goes while ep1 serves.
            create_endpoint(sm, "ep2", "m3", "c3", [
                {"ContainerHostname": "left", "Image": "process", "ModelDataUrl": model_url(tmp, "l", "left")},
                {"ContainerHostname": "right", "Image": "process", "ModelDataUrl": model_url(tmp, "r", "right")},
            ], mode="Direct")  # fmt: skip
            sm.get_waiter("endpoint_in_service").wait(EndpointName="ep2", WaiterConfig=WAIT)
            out = rt.invoke_endpoint(EndpointName="ep2", TargetContainerHostname="right", Body=b"x")
            assert json.loads(out["Body"].read())["model"] == "right"
            sm.delete_endpoint(EndpointName="ep2")
            sm.get_waiter("endpoint_deleted").wait(EndpointName="ep2", WaiterConfig=WAIT)
            seen = load.ok
            wait_for(lambda: load.ok >= seen + 20, 60, "load after the second endpoint went")
        assert load.failures == [], load.failures[:5]
        assert load.models[0] == "v1" and load.models[-1] == "v2"
        described = sm.describe_endpoint(EndpointName="ep1")
        assert described["EndpointConfigName"] == "c2"
        assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
        assert "LastModifiedTime" in described

        # Restart on the same state: ep1 comes back as it was, ep2 stays gone.
        sm.close()
        rt.close()
        c.proc.send_signal(signal.SIGTERM)
        assert c.proc.wait(60) == 0
        c = start_host(tmp / "host", state, port, base)
        sm, rt = clients(c)
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep1", WaiterConfig=WAIT)
        out = rt.invoke_endpoint(EndpointName="ep1", Body=b"again", ContentType="text/plain")
        assert json.loads(out["Body"].read())["model"] == "v2"
        assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["ep1"]

        # Delete everything: nothing of the endpoint keeps running, its cgroups go too.
        running: Snapshot = snapshot(c)
        assert running.processes, "ep1's container runs before the delete"
        sm.delete_endpoint(EndpointName="ep1")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="ep1", WaiterConfig=WAIT)
        for config in ("c1", "c2", "c3"):
            sm.delete_endpoint_config(EndpointConfigName=config)
        for model in ("m1", "m2", "m3"):
            sm.delete_model(ModelName=model)
        running.assert_gone()
        assert c.descendants() == []
        assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    finally:
        sm.close()
        rt.close()
        c.stop()


def test_a_failed_create_and_a_failed_update_say_why_and_the_old_model_serves_on(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    c = start_host(tmp / "host", tmp / "state", port, base)
    sm, rt = clients(c)
    missing = (tmp / "nowhere.tar.gz").as_uri()
    try:
        create_endpoint(sm, "bad", "mb", "cb", [{"Image": "process", "ModelDataUrl": missing}])
        failed = wait_for(lambda: (d := sm.describe_endpoint(EndpointName="bad"))["EndpointStatus"] == "Failed" and d,
                          60, "the create to fail")  # fmt: skip
        assert failed["FailureReason"].startswith("container container-1: model artifact file://")
        assert "No such file or directory" in failed["FailureReason"]
        code = client_error(lambda: rt.invoke_endpoint(EndpointName="bad", Body=b"x"))["Error"]["Code"]
        assert code == "ValidationError", "a failed endpoint serves nothing"

        create_endpoint(sm, "ep", "good", "c1", [{"Image": "process", "ModelDataUrl": model_url(tmp, "v1", "v1")}])
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
        sm.create_model(ModelName="broken", PrimaryContainer={"Image": "process", "ModelDataUrl": missing})
        variant = {"VariantName": "AllTraffic", "ModelName": "broken", "InstanceType": "ml.c5.large",
                   "InitialInstanceCount": 1}  # fmt: skip
        sm.create_endpoint_config(EndpointConfigName="c2", ProductionVariants=[variant])
        with Load(c.url, "ep") as load:
            sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
            rolled = wait_for(lambda: (d := sm.describe_endpoint(EndpointName="ep"))["EndpointStatus"] == "InService"
                              and d.get("FailureReason") and d, 60, "the update to roll back")  # fmt: skip
            seen = load.ok
            wait_for(lambda: load.ok >= seen + 10, 30, "load after the rollback")
        assert rolled["EndpointConfigName"] == "c1" and "nowhere.tar.gz" in rolled["FailureReason"]
        assert load.failures == [] and set(load.models) == {"v1"}
    finally:
        sm.close()
        rt.close()
        c.stop()
