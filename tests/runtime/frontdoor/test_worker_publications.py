"""Gunicorn workers build their app from what the supervisor published in the run directory, never from the
deployment file: a worker started after the file and its secret file are gone serves signed requests, with the
CLI's --workers override in effect."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import psutil
import pytest

from runtime.frontdoor import FrontSettings
from runtime.rundir import RunDir
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration
ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def gunicorn_workers(c: Coserve) -> set[int]:
    masters = [p for p in psutil.Process(c.proc.pid).children() if "gunicorn" in " ".join(p.cmdline())]
    assert len(masters) == 1, f"one gunicorn master under coserve, found {masters}"
    return {p.pid for p in masters[0].children()}


def counted_by(run: RunDir) -> set[int]:
    """Workers whose app exists: each registers its series at start, in a file named after its pid."""
    return {int(p.stem.split("_")[-1]) for p in run.prometheus.glob("counter_*.db")}


def test_a_worker_started_after_the_deployment_file_is_gone_serves_signed_requests(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret\n")
    spec, cfg = echo_container("echo")
    auth = {"Principals": [{"AccessKeyId": "AKIDTEST", "SecretAccessKeyFile": "secret.txt", "Policies": [ALL]}]}
    doc = {"EndpointName": "published-ep", "Containers": [spec],
           "Coserve": {"Containers": {"echo": cfg}, "Server": {"Workers": 1}, "Auth": auth}}  # fmt: skip
    c = start_coserve(doc, tmp_path, extra_args=["--workers", "2"])
    try:
        run = RunDir(tmp_path / "run")
        assert stat.S_IMODE(run.settings.stat().st_mode) == 0o600, "the settings hold the principals' secrets"
        assert FrontSettings.read(run.settings).workers == 2, "the CLI's override, not the file's Workers: 1"
        wait_for(lambda: len(gunicorn_workers(c)) == 2, 30, "two gunicorn workers")
        (tmp_path / "deploy.yaml").unlink()
        (tmp_path / "secret.txt").unlink()
        before = gunicorn_workers(c)
        victim = min(before)
        psutil.Process(victim).send_signal(signal.SIGKILL)
        wait_for(lambda: len(gunicorn_workers(c) - before) == 1 and len(gunicorn_workers(c)) == 2, 30, "a new worker")
        (fresh,) = gunicorn_workers(c) - before
        wait_for(lambda: fresh in counted_by(run), 30, "the new worker's app, built from the run directory")
        for _ in range(10):
            r = c.client(fresh=True).invoke_endpoint(EndpointName=c.endpoint, Body=b'{"n": 1}')
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        denied = c.client(secret="wrong", fresh=True)
        with pytest.raises(denied.exceptions.ClientError, match="signature"):
            denied.invoke_endpoint(EndpointName=c.endpoint, Body=b"{}")
    finally:
        assert c.stop() == 0
