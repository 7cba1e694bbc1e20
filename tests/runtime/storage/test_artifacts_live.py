"""Model artifacts through coserve: a real SeaweedFS, signed requests, the cache across restarts, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.cli.localstore import S3Endpoint
from tests.support import ROOT, echo_container, free_block, start_coserve, tarball

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    name = f"models-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="a/model.tar.gz", Body=tarball({"model.txt": "model A from S3"}))
    client.put_object(Bucket=name, Key="b/model.tar.gz", Body=tarball({"model.txt": "model B from S3"}))
    client.close()
    return name


def doc(s3: S3Endpoint, urls: dict[str, str], **server: Any) -> dict[str, Any]:
    containers, settings = [], {}
    for host, url in urls.items():
        c, cfg = echo_container(host)
        c["ModelDataUrl"] = url
        containers.append(c)
        settings[host] = cfg
    return {
        "EndpointName": "artifacts-ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": containers,
        "Coserve": {
            "Containers": settings,
            "Storage": {"S3EndpointUrl": s3.endpoint_url, "S3AddressingStyle": "path"},
            "Server": server,
        },
    }


def model_of(c: Any, host: str) -> str:
    r = c.client().invoke_endpoint(EndpointName="artifacts-ep", TargetContainerHostname=host, Body=b"{}")
    return json.loads(r["Body"].read())["model"]  # type: ignore[no-any-return]


def test_round_trip_through_s3_and_a_restart_downloads_nothing(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    urls = {"alpha": f"s3://{bucket}/a/model.tar.gz", "beta": f"s3://{bucket}/b/model.tar.gz"}
    first = start_coserve(doc(s3, urls), tmp_path, env=s3.env())
    try:
        assert (model_of(first, "alpha"), model_of(first, "beta")) == ("model A from S3", "model B from S3")
    finally:
        assert first.stop() == 0
    log = first.log.read_text()
    assert log.count("runtime.storage: fetched s3://") == 2
    second = start_coserve(doc(s3, urls), tmp_path, env=s3.env())
    try:
        assert model_of(second, "alpha") == "model A from S3"
    finally:
        assert second.stop() == 0
    again = second.log.read_text()  # start_coserve writes a fresh log for each start
    assert "runtime.storage: fetched" not in again, "the second start downloads nothing"
    assert again.count("cache hit s3://") == 2


def serve_expecting_failure(deployment: dict[str, Any], tmp_path: Path, env: dict[str, str]) -> str:
    own = deployment["Coserve"]
    own["Server"].update(
        {
            "LogDir": str(tmp_path / "logs"),
            "RunDir": str(tmp_path / "run"),
            "PortBase": free_block(10, 2),
            "PortBlock": 10,
        }
    )
    own["Storage"]["CacheDir"] = str(tmp_path / "cache")
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(deployment))
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "serve", str(path), "--port", "0"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "RUNNING" not in done.stderr, "nothing started serving"
    assert list((tmp_path / "cache" / "artifacts").rglob(".tmp-*")) == [], "no half-written file in the cache"
    return done.stderr


def test_a_missing_key_stops_coserve_before_it_serves(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/nope/model.tar.gz"
    stderr = serve_expecting_failure(doc(s3, {"alpha": f"s3://{bucket}/a/model.tar.gz", "ghost": url}), tmp_path,
                                     s3.env())  # fmt: skip
    assert f"container 'ghost' cannot start: gave up: container ghost: model artifact {url}: NoSuchKey" in stderr


def test_wrong_credentials_name_the_cause(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    env = {**s3.env(), "AWS_SECRET_ACCESS_KEY": "wrong"}
    stderr = serve_expecting_failure(doc(s3, {"alpha": f"s3://{bucket}/a/model.tar.gz"}), tmp_path, env)
    assert "container alpha: model artifact s3://" in stderr
    assert "SignatureDoesNotMatch" in stderr or "AccessDenied" in stderr or "InvalidAccessKeyId" in stderr


def test_with_on_artifact_error_fatal_the_others_serve(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    urls = {"alpha": f"s3://{bucket}/a/model.tar.gz", "ghost": f"s3://{bucket}/nope/model.tar.gz"}
    c = start_coserve(doc(s3, urls, OnArtifactError="fatal"), tmp_path, env=s3.env(), wait_ready=False)
    try:
        c.wait_state("ghost", "FATAL")
        c.wait_state("alpha", "RUNNING")
        assert model_of(c, "alpha") == "model A from S3"
        status, body = c.ping()
        assert status == 503 and body["containers"] == {"ghost": "FATAL"}
    finally:
        assert c.stop() == 0


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "runtime", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, **env})


def test_coserve_fetch_fills_the_cache_once(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    deployment = doc(s3, {"alpha": f"s3://{bucket}/a/model.tar.gz", "beta": f"s3://{bucket}/b/model.tar.gz"})
    deployment["Coserve"]["Storage"]["CacheDir"] = str(tmp_path / "cache")
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(deployment))
    first = run_cli("fetch", str(path), env=s3.env())
    assert first.returncode == 0, first.stderr
    assert "downloads: 2, cache hits: 0" in first.stderr
    second = run_cli("fetch", str(path), env=s3.env())
    assert "downloads: 0, cache hits: 2" in second.stderr
    assert (tmp_path / "cache" / "models" / "artifacts-ep--alpha" / "model.txt").read_text() == "model A from S3"


def test_the_deployment_file_itself_can_come_from_s3(s3: S3Endpoint, bucket: str) -> None:
    client = s3.client()
    client.put_object(Bucket=bucket, Key="deploy.yaml", Body=yaml.safe_dump(doc(s3, {"alpha": "s3://x/y.tar.gz"})))
    client.close()
    done = run_cli("check", f"s3://{bucket}/deploy.yaml", env=s3.env())
    assert done.returncode == 0, done.stderr
    assert "alpha: process s3://x/y.tar.gz" in done.stdout
    missing = run_cli("check", f"s3://{bucket}/nope.yaml", env=s3.env())
    assert missing.returncode == 1
    assert f"s3://{bucket}/nope.yaml" in missing.stderr
