"""`coserve apply FILE --url URL`: a deployment file applied on a running host, as `coserve serve FILE` applies
it at start (runtime.control.apply), through the host's `Coserve.ApplyDeployment` operation.

The file is read and checked here first (a bad file exits 2 naming the field, having sent nothing), its
relative ModelDataUrl paths made absolute against its folder, and the whole document sent, signed with SigV4
when botocore's usual chain finds credentials (unsigned otherwise). With `--wait` it then waits for the
endpoint with boto3's `endpoint_in_service` waiter and fails if the endpoint ended Failed or the update was
rolled back (the endpoint serves on, on its old configuration). Exit codes: 0 done, 1 the host refused or
could not be reached or the endpoint did not come up, 2 a bad file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from runtime.cli.deployfile import DeploymentFetchError, localize
from runtime.config import ConfigError, load_deployment
from runtime.config.load import read_document

TIMEOUT_S = 60.0
BAD_REQUEST = ("ValidationException", "SerializationException")  # the host refused the file itself: exit 2


class ApplyError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("deployment", help="deployment file (JSON or YAML): a path, s3://bucket/key or https:// URL")
    p.add_argument(
        "--url", default="http://127.0.0.1:8080", help="the host's front door (default http://127.0.0.1:8080)"
    )
    p.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                   help="wait until the endpoint is InService, and fail if it is not (default: wait)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=1800.0, help="with --wait: give up after this many seconds")
    p.add_argument("--region", help="the region to sign for (default: botocore's, else us-east-1)")


def run(args: argparse.Namespace) -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="coserve-apply-") as tmp:
            doc = _read(args.deployment, Path(tmp))
        session, region = session_for(args.region)
        out = send(args.url, doc, session, region)
        print(f"endpoint {out['EndpointName']}: {out['Outcome']} (config {out['EndpointConfigName']}, "
              f"model {out['ModelName']})")  # fmt: skip
        if out.get("HostSettingsNotApplied"):
            print(f"coserve: note: {', '.join(out['HostSettingsNotApplied'])}: the host's settings, taken by "
                  "`coserve serve` at start; the running host keeps its own", file=sys.stderr)  # fmt: skip
        if args.wait:
            _wait(args.url, session, region, out["EndpointName"], out["EndpointConfigName"], args.timeout)
    except ApplyError as exc:
        print(f"coserve: apply: {exc}", file=sys.stderr)
        return exc.code
    return 0


def _read(arg: str, workdir: Path) -> dict[str, Any]:
    """The file, checked as `coserve serve` checks it, with its relative paths made absolute."""
    from runtime.control.apply import absolute_paths  # imported on use: it loads botocore, which `coserve` need not

    try:
        path = localize(arg, workdir)
        deployment = load_deployment(path)
        doc = read_document(path)
    except DeploymentFetchError as exc:
        raise ApplyError(str(exc)) from exc
    except ConfigError as exc:
        raise ApplyError(str(exc), 2) from exc
    if not deployment.has_endpoint:
        raise ApplyError(f"{path} has no endpoint (only host settings): start a host with `coserve serve`", 2)
    assert isinstance(doc, dict)  # load_deployment refused anything else
    return absolute_paths(doc, path.parent)


def session_for(region: str | None) -> tuple[Any, str]:
    import botocore.session  # type: ignore[import-untyped]  # imported on use: the other commands do not pay for it

    session = botocore.session.get_session()
    return session, region or session.get_config_variable("region") or "us-east-1"


def send(url: str, doc: dict[str, Any], session: Any, region: str) -> dict[str, Any]:
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

    from runtime.control.deploy_op import TARGET
    from runtime.control.wire import CONTENT_TYPE

    body = json.dumps(doc).encode()
    request = AWSRequest("POST", url.rstrip("/") + "/", data=body,
                         headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET})  # fmt: skip
    credentials = session.get_credentials()
    if credentials is not None:
        SigV4Auth(credentials, "sagemaker", region).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(sent, timeout=TIMEOUT_S) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        with exc:
            code, message = _error(exc.read())
        raise ApplyError(f"{url}: {code}: {message}", 2 if code in BAD_REQUEST else 1) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ApplyError(f"{url}: {getattr(exc, 'reason', exc)}") from exc


def _error(body: bytes) -> tuple[str, str]:
    """SageMaker's JSON 1.1 error: `__type` (maybe `prefix#Code`) and `message`."""
    try:
        data = json.loads(body)
        return str(data.get("__type", "Error")).rpartition("#")[2], str(data.get("message") or data.get("Message"))
    except (ValueError, AttributeError):
        return "Error", body.decode("utf-8", "replace")[:200]


def _wait(url: str, session: Any, region: str, endpoint: str, config: str, timeout: float) -> None:
    from botocore import UNSIGNED
    from botocore.config import Config  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError  # type: ignore[import-untyped]

    signed = session.get_credentials() is not None
    settings = Config(retries={"total_max_attempts": 1}, **({} if signed else {"signature_version": UNSIGNED}))
    sm = session.create_client("sagemaker", region_name=region, endpoint_url=url, config=settings)
    try:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": max(1, int(timeout))}
        )
        described = sm.describe_endpoint(EndpointName=endpoint)
    except WaiterError as exc:
        reason = (exc.last_response or {}).get("FailureReason") or str(exc)
        raise ApplyError(f"endpoint {endpoint}: {reason}") from exc
    except (ClientError, BotoCoreError) as exc:
        raise ApplyError(f"endpoint {endpoint}: {exc}") from exc
    finally:
        sm.close()
    if described["EndpointConfigName"] != config:  # SageMaker's rollback: the old config serves on
        why = described.get("FailureReason") or "the endpoint runs another configuration"
        raise ApplyError(f"endpoint {endpoint}: the update was rolled back: {why}")
    print(f"endpoint {endpoint}: InService")
