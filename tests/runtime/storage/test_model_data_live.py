"""ModelDataSource (uncompressed S3 prefix) and AdditionalModelDataSources through coserve, on a real SeaweedFS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.localstore import S3Endpoint
from tests.support import ROOT, start_coserve, tarball

pytestmark = pytest.mark.integration
LISTER = [sys.executable, str(ROOT / "tests" / "containers" / "lister.py")]
BIG = os.urandom(40 << 20)  # over the 16 MiB part size: fetched as parallel ranges


def s3_data(uri: str, kind: str = "S3Prefix", compression: str = "None") -> dict[str, str]:
    return {"S3Uri": uri, "S3DataType": kind, "CompressionType": compression}


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    name = f"data-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    objects = {
        "llm/config.json": b'{"layers": 2}',
        "llm/weights/part-1.bin": b"one",
        "llm/weights/part-2.bin": b"two",
        "llm/big.bin": BIG,
        "llm-other/not-mine.txt": b"outside the prefix",
        "adapters/lora/adapter.txt": b"lora weights",
        "vocab/vocab.txt": b"a b c",
        "packed/model.tar.gz": tarball({"packed.txt": "from a tarball"}),
    }
    for key, body in objects.items():
        client.put_object(Bucket=name, Key=key, Body=body)
    client.close()
    return name


def deployment(s3: S3Endpoint, bucket: str) -> dict[str, Any]:
    return {
        "EndpointName": "data-ep",
        "Containers": [{
            "ContainerHostname": "llm", "Image": "process",
            "ModelDataSource": {"S3DataSource": s3_data(f"s3://{bucket}/llm/")},
            "AdditionalModelDataSources": [
                {"ChannelName": "lora", "S3DataSource": s3_data(f"s3://{bucket}/adapters/lora/")},
                {"ChannelName": "vocab", "S3DataSource": s3_data(f"s3://{bucket}/vocab/vocab.txt", "S3Object")},
                {"ChannelName": "packed", "S3DataSource": s3_data(f"s3://{bucket}/packed/model.tar.gz",
                                                                   "S3Object", "Gzip")},
            ],
        }],
        "Coserve": {"Containers": {"llm": {"Command": LISTER}},
                    "Storage": {"S3EndpointUrl": s3.endpoint_url, "S3AddressingStyle": "path"}},
    }  # fmt: skip


def seen(c: Any) -> dict[str, Any]:
    r = c.client().invoke_endpoint(EndpointName="data-ep", Body=b"{}")
    return json.loads(r["Body"].read())  # type: ignore[no-any-return]


def test_prefix_and_additional_sources_laid_out_as_sagemaker_does(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    c = start_coserve(deployment(s3, bucket), tmp_path, env=s3.env())
    try:
        got = seen(c)
        assert sorted(got["model"]) == ["big.bin", "config.json", "weights/part-1.bin", "weights/part-2.bin"]
        assert got["model"]["weights/part-2.bin"] == "two"
        assert (tmp_path / "cache" / "models" / "data-ep--llm" / "big.bin").read_bytes() == BIG
        assert got["sources"] == {"lora/adapter.txt": "lora weights", "vocab/vocab.txt": "a b c",
                                  "packed/packed.txt": "from a tarball"}  # fmt: skip
        private = got["sources_dir"] == "/opt/ml/additional-model-data-sources"
        assert private or got["sources_dir"].endswith("data-ep--llm--sources")
    finally:
        assert c.stop() == 0
    again = start_coserve(deployment(s3, bucket), tmp_path, env=s3.env())
    try:
        assert sorted(seen(again)["model"]) == ["big.bin", "config.json", "weights/part-1.bin", "weights/part-2.bin"]
    finally:
        assert again.stop() == 0
    assert "downloads: 0" in _fetch_summary(tmp_path, s3), "a restart fetches nothing again"
    check = subprocess.run([sys.executable, "-m", "runtime", "check", str(tmp_path / "deploy.yaml")], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert f"llm: process s3://{bucket}/llm/ (prefix), lora: s3://{bucket}/adapters/lora/ (prefix)" in check.stdout
    prune = subprocess.run([sys.executable, "-m", "runtime", "cache", "prune", str(tmp_path / "deploy.yaml"), "--to",
                            "0"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert "4 evicted" in prune.stdout, prune.stdout + prune.stderr  # the model and its three channels
    cache = tmp_path / "cache"
    left = [p for d in ("artifacts/blobs", "artifacts/trees", "models") for p in (cache / d).iterdir()]
    assert left == [], "nothing unused is kept, nor kept alive by a hardlink"


def _fetch_summary(tmp_path: Path, s3: S3Endpoint) -> str:
    argv = [sys.executable, "-m", "runtime", "fetch", str(tmp_path / "deploy.yaml")]
    env = {**os.environ, **s3.env()}
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return " ".join((out.stdout + out.stderr).split())


def test_a_prefix_with_a_name_clash_fails_the_container_with_the_key(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    client = s3.client()
    client.put_object(Bucket=bucket, Key="clash/weights", Body=b"a file")
    client.put_object(Bucket=bucket, Key="clash/weights/part1", Body=b"under a directory of the same name")
    client.close()
    doc = deployment(s3, bucket)
    doc["Containers"][0]["ModelDataSource"] = {"S3DataSource": s3_data(f"s3://{bucket}/clash/")}
    doc["Coserve"]["Server"] = {"OnArtifactError": "fatal"}
    c = start_coserve(doc, tmp_path, env=s3.env(), wait_ready=False)
    try:
        c.wait_state("llm", "FATAL")
        assert "'weights' is both a file and a directory" in c.log.read_text()
        assert not (tmp_path / "cache" / "models" / "data-ep--llm").exists()
    finally:
        c.stop()
