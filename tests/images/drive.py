"""The host side of images/ci-image.sh: make a two-container deployment, then check the running image.

    drive.py prepare DIR --extras demo,torchserve   # DIR/models/*.tar.gz, DIR/deploy.yaml, DIR/credentials.env
    drive.py check http://127.0.0.1:PORT --deploy DIR

The deployment is signed (Coserve.Auth), so the image's default command, which binds 0.0.0.0, serves it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from examples.digits import build as digits  # noqa: E402
from tests.support import wait_for  # noqa: E402

ENDPOINT = "ci-image"
SECRET_ENV = "COSERVE_CI_SECRET"
MEMORY_LIMIT = 512 * 2**20


def _torch_artifact(models: Path) -> dict[str, Any]:
    """A TorchScript linear model for `Image: torchserve`, and the answer it must give."""
    import io
    import tarfile

    import torch

    torch.manual_seed(0)
    model = torch.jit.script(torch.nn.Linear(4, 2))
    buf = io.BytesIO()
    torch.jit.save(model, buf)
    with tarfile.open(models / "torch-linear.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model.pt")
        info.size = len(buf.getvalue())
        tar.addfile(info, io.BytesIO(buf.getvalue()))
    rows = [[1.0, 2.0, 3.0, 4.0]]
    return {"rows": rows, "expected": model(torch.tensor(rows)).tolist()}


def _code(script: str) -> list[str]:
    """The digits servers ship in their artifacts, under code/."""
    return ["$(COSERVE_PYTHON)", f"$(SM_MODEL_DIR)/code/{script}"]


def prepare(out: Path, extras: set[str]) -> None:
    if "demo" not in extras:
        raise SystemExit("drive.py: the image needs the demo extra (scikit-learn) for the digits containers")
    models = out / "models"
    models.mkdir(parents=True)
    digits.build(models)
    second = "torch-linear" if "torchserve" in extras else "digits-centroid"
    expected = _torch_artifact(models) if second == "torch-linear" else {}
    containers = [
        {"ContainerHostname": "digits-sklearn", "Image": "process", "ModelDataUrl": "/models/digits-sklearn.tar.gz"},
        {"ContainerHostname": second, "Image": "torchserve" if expected else "process",
         "ModelDataUrl": f"/models/{second}.tar.gz"},
    ]  # fmt: skip
    key = "AKIDCI" + secrets.token_hex(6).upper()
    # DescribeEndpoint: the signed GET /metrics below (the pages need it under Coserve.Auth)
    allow = {"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"], "Resource": "*"}
    commands = {
        "digits-sklearn": {"Command": _code("sklearn_server.py"), "Memory": "512MiB"},
        "digits-centroid": {"Command": _code("centroid_server.py")},
    }
    principal = {
        "AccessKeyId": key,
        "SecretAccessKeyEnv": SECRET_ENV,
        "Policies": [{"Version": "2012-10-17", "Statement": [allow]}],
    }
    own = {
        "Containers": {k: v for k, v in commands.items() if k in {"digits-sklearn", second}},
        "Auth": {"Principals": [principal]},
    }
    doc = {"EndpointName": ENDPOINT, "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": containers}
    (out / "deploy.yaml").write_text(yaml.safe_dump({**doc, "Coserve": own}, sort_keys=False))
    secret = secrets.token_hex(16)
    (out / "credentials.env").write_text(f"{SECRET_ENV}={secret}\n")
    (out / "check.json").write_text(json.dumps({"key": key, "secret": secret, "second": second, **expected}))


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()
    except OSError:
        return 0, b""


def _client(url: str, key: str, secret: str) -> Any:
    return boto3.client(
        "sagemaker-runtime", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )  # fmt: skip


def _invoke(client: Any, target: str, body: Any) -> Any:
    reply = client.invoke_endpoint(EndpointName=ENDPOINT, TargetContainerHostname=target,
                                   ContentType="application/json", Body=json.dumps(body))  # fmt: skip
    return json.loads(reply["Body"].read())


def _running(container: str) -> bool:
    found = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Running}}", container],
                           capture_output=True, text=True, check=False)  # fmt: skip
    return found.stdout.strip() == "true"


def _ready(url: str, container: str | None) -> bool:
    """/ping is 200; fails at once if the container has exited (no waiting out the deadline)."""
    if _get(f"{url}/ping")[0] == 200:
        return True
    if container and not _running(container):
        raise SystemExit(f"drive.py: container {container} exited before /ping answered 200")
    time.sleep(0.5)  # pacing between polls (podman inspect is not free), not synchronisation
    return False


def check(url: str, deploy: Path, container: str | None) -> None:
    facts = json.loads((deploy / "check.json").read_text())
    wait_for(lambda: _ready(url, container), 240, f"{url}/ping to answer 200")
    print(f"drive.py: /ping 200 at {url}")
    client = _client(url, facts["key"], facts["secret"])
    _, x_test, _, y_test = digits.split()
    predictions = _invoke(client, "digits-sklearn", {"instances": x_test[:50].tolist()})["predictions"]
    accuracy = sum(int(p == y) for p, y in zip(predictions, y_test[:50], strict=True)) / 50
    assert accuracy > 0.9, f"digits-sklearn accuracy {accuracy}"
    print(f"drive.py: digits-sklearn through boto3: accuracy {accuracy:.2f} on 50 digits")
    if facts["second"] == "torch-linear":
        got = _invoke(client, "torch-linear", facts["rows"])
        assert all(abs(a - b) < 1e-4 for a, b in zip(got[0], facts["expected"][0], strict=True)), (got, facts)
        print(f"drive.py: torch-linear (TorchServe) through boto3: {got}")
    else:
        got = _invoke(client, "digits-centroid", {"instances": x_test[:5].tolist()})
        print(f"drive.py: digits-centroid through boto3: {got}")
    _check_refused(url, facts["key"])
    _check_metrics(url, facts["key"], facts["secret"])
    client.close()


def _check_refused(url: str, key: str) -> None:
    bad = _client(url, key, "wrong-secret")
    try:
        _invoke(bad, "digits-sklearn", {"instances": [[0.0] * 64]})
    except ClientError as exc:
        print(f"drive.py: a wrongly signed request is refused: {exc.response['Error']['Code']}")
    else:
        raise AssertionError("a request signed with the wrong secret was served")
    finally:
        bad.close()


def _signed_get(url: str, key: str, secret: str) -> tuple[int, bytes]:
    """A GET signed as boto3 signs (SigV4, service sagemaker)."""
    request = AWSRequest("GET", url)
    SigV4Auth(Credentials(key, secret), "sagemaker", "us-east-1").add_auth(request)
    return _get(url, dict(request.headers.items()))


def _check_metrics(url: str, key: str, secret: str) -> None:
    status, body = _get(f"{url}/metrics")
    assert status == 403, f"unsigned /metrics under Coserve.Auth answered {status}: {body[:200]!r}"
    print("drive.py: unsigned /metrics refused (403)")
    status, body = _signed_get(f"{url}/metrics", key, secret)
    assert status == 200, f"/metrics answered {status}: {body[:200]!r}"
    text = body.decode()
    for name in ("coserve_container_state", "coserve_invocations_total"):
        assert name in text, f"/metrics has no {name}"
    limits = [line for line in text.splitlines() if line.startswith("coserve_container_memory_limit_bytes")]
    enforced = any('"digits-sklearn"' in line and float(line.split()[-1]) == MEMORY_LIMIT for line in limits)
    print(f"drive.py: /metrics 200 ({len(text.splitlines())} lines); 512MiB limit enforced: {enforced}")
    assert enforced, f"digits-sklearn's memory limit is not in /metrics: {limits}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="drive.py")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out", type=Path)
    p.add_argument("--extras", default="demo")
    c = sub.add_parser("check")
    c.add_argument("url")
    c.add_argument("--deploy", type=Path, required=True)
    c.add_argument("--container", help="the podman container serving url: stop waiting if it exits")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.out, set(args.extras.split(",")))
    else:
        check(args.url, args.deploy, args.container)


if __name__ == "__main__":
    main()
