"""The coserve demo: a local S3 store, real artifacts, one multi-container endpoint, boto3 as the client.

    python examples/demo/run.py [--suite mnist|digits] [--port 8080] [--workdir DIR]

`mnist` (the default) is SageMaker's multi-container example: TensorFlow Serving and TorchServe side by
side. `digits` needs no framework: two bring-your-own containers on two stacks.

1. starts SeaweedFS on 127.0.0.1 (signed requests, its own keys) as the S3 store;
2. trains the suite's models on data that ships offline and uploads each model.tar.gz;
3. starts `coserve serve` with one container per model, in Direct mode;
4. invokes each container with boto3's `invoke_endpoint` exactly as a SageMaker client would, and prints
   predictions, accuracy on held-out data and latency per container;
5. (`digits`) streams text from a bring-your-own generator with `invoke_endpoint_with_response_stream`,
   printed as the parts arrive.
Artifacts are built once and kept in the work dir; a second run reuses them (and coserve's cache).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # examples/ is not an installed package

from examples.demo.suites import SUITES, Suite  # noqa: E402
from runtime.cli.localstore import S3Endpoint, S3Store  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 110)


def upload(store: S3Endpoint, artifacts: dict[str, Path]) -> dict[str, str]:
    s3 = store.client()
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # kept from an earlier run
        s3.create_bucket(Bucket="models")
    for name, path in artifacts.items():
        s3.upload_file(str(path), "models", f"{name}/model.tar.gz")
    s3.close()
    return {name: f"s3://models/{name}/model.tar.gz" for name in artifacts}


def deployment(suite: Suite, urls: dict[str, str], store: S3Endpoint, work: Path) -> Path:
    doc: dict[str, Any] = {
        "EndpointName": suite.endpoint,
        "VariantName": "prod",
        "ModelName": suite.endpoint.removesuffix("-ep"),
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [c.definition(urls[c.hostname]) for c in [*suite.containers, *suite.streamers]],
        "Coserve": {
            "Containers": {c.hostname: c.settings for c in [*suite.containers, *suite.streamers]},
            "Storage": {
                "CacheDir": str(work / "cache"),
                "S3EndpointUrl": store.endpoint_url,
                "S3AddressingStyle": "path",
            },
            "Server": {"LogDir": str(work / "logs"), "RunDir": str(work / "run")},
        },
    }
    path = work / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"coserve exited with {proc.returncode}; see its log above")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling coserve's /ping until the deadline
    raise SystemExit(f"coserve was not ready within {deadline_s:g}s")


def exercise(suite: Suite, url: str) -> Table:
    client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
    table = Table(title=f"{suite.endpoint}: boto3 invoke_endpoint per container")
    for column in ("container", "image", "sample predictions", "accuracy", "p50 latency", "requests"):
        table.add_column(column)
    for c in suite.containers:
        latencies, correct, total, sample = [], 0, 0, []
        for batch, labels in suite.batches():
            start = time.perf_counter()
            r = client.invoke_endpoint(
                EndpointName=suite.endpoint, TargetContainerHostname=c.hostname,
                ContentType="application/json", Accept="application/json", Body=json.dumps(c.payload(batch)),
            )  # fmt: skip
            predicted = c.predictions(json.loads(r["Body"].read()))
            latencies.append(time.perf_counter() - start)
            correct += sum(int(p == y) for p, y in zip(predicted, labels, strict=True))
            total += len(labels)
            sample = sample or predicted[:8]
        table.add_row(c.hostname, c.definition("")["Image"], str(sample), f"{correct / total:.1%}",
                      f"{statistics.median(latencies) * 1000:.1f} ms", str(len(latencies)))  # fmt: skip
    client.close()
    return table


def stream(suite: Suite, url: str) -> None:
    """invoke_endpoint_with_response_stream on each streaming container, printed part by part as it arrives."""
    client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
    for c in suite.streamers:
        start = time.perf_counter()
        r = client.invoke_endpoint_with_response_stream(
            EndpointName=suite.endpoint, TargetContainerHostname=c.hostname,
            ContentType="application/json", Body=json.dumps(c.payload("Beautiful is")),
        )  # fmt: skip
        console.print(f"{c.hostname} streams ({r['ContentType']}): Beautiful is ", end="")
        parts, first = 0, None
        for event in r["Body"]:
            first = first or time.perf_counter() - start
            parts += 1
            console.print(event["PayloadPart"]["Bytes"].decode(), end="", soft_wrap=True)
        console.print(f"\n{c.hostname}: {parts} parts, first after {(first or 0) * 1000:.0f} ms, "
                      f"all after {(time.perf_counter() - start) * 1000:.0f} ms")  # fmt: skip
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), default="mnist")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workdir", type=Path, default=ROOT / "examples" / "demo" / "build")
    args = parser.parse_args()
    suite: Suite = SUITES[args.suite]()
    work = args.workdir.resolve() / args.suite
    with console.status("building the models (once; kept in the work dir)"):
        artifacts = suite.build(work / "artifacts")
    with S3Store() as store:
        endpoint = store.start(work / "s3")
        console.print(f"S3 store: SeaweedFS at {endpoint.endpoint_url}")
        urls = upload(endpoint, artifacts)
        path = deployment(suite, urls, endpoint, work)
        console.print(f"deployment file: {path}")
        env = {**os.environ, **endpoint.env()}
        argv = [sys.executable, "-m", "runtime", "serve", str(path), "--port", str(args.port)]
        proc = subprocess.Popen(argv, env=env, cwd=ROOT)
        try:
            started = time.monotonic()
            wait_ready(f"http://127.0.0.1:{args.port}", proc, 300)
            console.print(f"all containers RUNNING after {time.monotonic() - started:.1f}s")
            console.print(exercise(suite, f"http://127.0.0.1:{args.port}"))
            stream(suite, f"http://127.0.0.1:{args.port}")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    console.print(f"coserve stopped (exit {code}); logs in {work / 'logs'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
