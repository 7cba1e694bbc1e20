"""`coserve apply FILE --url URL` against a real host (`coserve serve host.yaml --state-dir DIR`): created,
unchanged (nothing restarts), changed (blue/green, the new container answers), rolled back, a bad file
refused with nothing changed; and with Coserve.Auth: unsigned refused, signed by an allowed principal applied."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config

from tests.support import (
    ECHO,
    ROOT,
    Coserve,
    free_block,
    free_port,
    sigterm_when_parent_dies,
    start_coserve,
    wait_for,
    write_tarball,
)

pytestmark = pytest.mark.integration
KEY, SECRET = "AKIDAPPLY", "apply-s3cret"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]}


def start_host(workdir: Path, auth: dict[str, Any] | None = None) -> Coserve:
    """A host with no endpoint of its own, its state in workdir/state."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = {"LogDir": str(workdir / "logs"), "RunDir": str(workdir / "run"), "PortBase": free_block(10, 4),
              "PortBlock": 10, "MaxContainers": 4, "DrainTimeout": "5s", "StopGrace": "5s"}  # fmt: skip
    own: dict[str, Any] = {"Server": server, "Storage": {"CacheDir": str(workdir / "cache")}}
    if auth is not None:
        own["Auth"] = auth
    (workdir / "host.yaml").write_text(yaml.safe_dump({"Coserve": own}))
    port, log = free_port(), workdir / "coserve.log"
    argv = [sys.executable, "-m", "runtime", "serve", str(workdir / "host.yaml"), "--state-dir",
            str(workdir / "state"), "--port", str(port)]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                preexec_fn=sigterm_when_parent_dies)  # fmt: skip
    c = Coserve(proc, port, workdir, "", log)
    wait_for(lambda: proc.poll() is not None or c.ping()[0] != 0, 60, f"the front door (log: {log})")
    assert proc.poll() is None, log.read_text()
    return c


def apply(c: Coserve, path: Path, *extra: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    """`coserve apply` as a user runs it; credentials only from `key` (no files, no instance metadata)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
               AWS_EC2_METADATA_DISABLED="true")  # fmt: skip
    if key is not None:
        env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=SECRET)
    argv = [sys.executable, "-m", "runtime", "apply", str(path), "--url", c.url, "--timeout", "90", *extra]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)


def write(path: Path, name: str = "v1", command: list[str] | None = None, **echo: Any) -> Path:
    doc = {
        "EndpointName": "app",
        "Containers": [{"ContainerHostname": "echo", "Image": "process", "Environment": {"ECHO_NAME": name}}],
        "Coserve": {"Containers": {"echo": {"Command": command or ECHO, **echo}}},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def clients(c: Coserve, key: str = KEY) -> tuple[Any, Any]:
    args = {"endpoint_url": c.url, "region_name": "us-east-1", "aws_access_key_id": key,
            "aws_secret_access_key": SECRET, "config": Config(retries={"total_max_attempts": 1})}  # fmt: skip
    return boto3.client("sagemaker", **args), boto3.client("sagemaker-runtime", **args)


def answered_by(rt: Any) -> str:
    out = rt.invoke_endpoint(EndpointName="app", Body=b"x", ContentType="text/plain")
    return str(yaml.safe_load(out["Body"].read())["container"])


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Coserve]:
    c = start_host(tmp_path / "host")
    yield c
    c.stop()


def test_create_unchanged_update_rollback_and_a_bad_file(host: Coserve, tmp_path: Path) -> None:
    sm, rt = clients(host)
    try:
        done = apply(host, write(tmp_path / "app.yaml"))
        assert done.returncode == 0, done.stderr
        assert "endpoint app: created" in done.stdout and "endpoint app: InService" in done.stdout
        assert answered_by(rt) == "v1"
        pids = {p.pid for p in host.descendants()}

        done = apply(host, tmp_path / "app.yaml")
        assert done.returncode == 0 and "endpoint app: unchanged" in done.stdout, done.stderr
        assert {p.pid for p in host.descendants()} == pids  # nothing restarted
        assert sm.describe_endpoint(EndpointName="app")["EndpointStatus"] == "InService"

        # A changed Command and Environment: blue/green, the new container answers, the old one goes.
        done = apply(host, write(tmp_path / "app.yaml", "v2", ["python3", "-u", ECHO[-1]]))
        assert done.returncode == 0, done.stderr
        assert "endpoint app: updated" in done.stdout and "endpoint app: InService" in done.stdout
        assert answered_by(rt) == "v2"
        wait_for(lambda: not pids & {p.pid for p in host.descendants()}, 30, "the old container to stop")
        config = sm.describe_endpoint(EndpointName="app")["EndpointConfigName"]
        models = sm.list_models()["Models"]

        # A container that cannot start: the update rolls back, the old one serves on, apply fails saying why.
        done = apply(host, write(tmp_path / "app.yaml", "v3", ["sh", "-c", "exit 3"]))
        assert done.returncode == 1, done.stdout + done.stderr
        assert "the update was rolled back: container echo" in done.stderr, done.stderr
        assert answered_by(rt) == "v2"
        assert sm.describe_endpoint(EndpointName="app")["EndpointConfigName"] == config

        # A bad file: exit 2 naming the field, nothing sent, nothing changed.
        done = apply(host, write(tmp_path / "app.yaml", "v4", Memory="lots"))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Coserve.Containers.echo.Memory" in done.stderr
        assert sm.describe_endpoint(EndpointName="app")["EndpointConfigName"] == config
        assert len(sm.list_models()["Models"]) == len(models) + 1  # the rolled-back one's model stays, as on SageMaker
    finally:
        sm.close()
        rt.close()


def test_with_auth_unsigned_is_refused_and_a_signed_principal_applies(tmp_path: Path) -> None:
    auth = {"Principals": [{"AccessKeyId": KEY, "SecretAccessKey": SECRET, "Name": "deployer",
                            "Policies": [ALLOW_ALL]}]}  # fmt: skip
    c = start_host(tmp_path / "host", auth)
    sm, rt = clients(c)
    try:
        path = write(tmp_path / "app.yaml")
        refused = apply(c, path)
        assert refused.returncode == 1
        assert "MissingAuthenticationTokenException" in refused.stderr, refused.stderr
        assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
        stranger = apply(c, path, key="AKIDNOBODY")
        assert stranger.returncode == 1 and "UnrecognizedClientException" in stranger.stderr, stranger.stderr
        done = apply(c, path, key=KEY)
        assert done.returncode == 0, done.stderr
        assert "endpoint app: created" in done.stdout and "endpoint app: InService" in done.stdout
        assert answered_by(rt) == "v1"
    finally:
        sm.close()
        rt.close()
        c.stop()


def test_the_file_serve_started_with_is_unchanged_when_applied(tmp_path: Path) -> None:
    """`serve FILE` and `apply FILE` read a file alike: a relative ModelDataUrl, given from another folder
    through `..`, names the same artifact, so nothing restarts."""
    work = tmp_path / "served"
    work.mkdir()
    write_tarball(work / "model.tar.gz", {"model.txt": "one"})
    doc = {"EndpointName": "filed", "Containers": [{"ContainerHostname": "echo", "Image": "process",
                                                    "ModelDataUrl": "model.tar.gz"}],
           "Coserve": {"Containers": {"echo": {"Command": ECHO}}}}  # fmt: skip
    c = start_coserve(doc, work)
    try:
        pids = {p.pid for p in c.descendants()}
        done = apply(c, tmp_path / "served" / ".." / "served" / "deploy.yaml")
        assert done.returncode == 0, done.stderr
        assert "endpoint filed: unchanged" in done.stdout and "endpoint filed: InService" in done.stdout
        assert {p.pid for p in c.descendants()} == pids
    finally:
        c.stop()
