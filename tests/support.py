"""Starting coserve for real, as a user would, and waiting on it without sleeps."""

from __future__ import annotations

import ctypes
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psutil
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
ECHO = [sys.executable, str(ROOT / "tests" / "containers" / "echo.py")]
EPHEMERAL_FLOOR = 10000  # port blocks for containers are taken from here up to the ephemeral range


def tarball(files: Mapping[str, bytes | str]) -> bytes:
    """A model.tar.gz in memory: each name holds those bytes (text is UTF-8)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_tarball(path: Path, files: Mapping[str, bytes | str]) -> Path:
    path.write_bytes(tarball(files))
    return path


def client_error(call: Callable[[], Any]) -> dict[str, Any]:
    """The error botocore parsed from a call that must fail. Unlike pytest.raises, it keeps no traceback:
    one would hold botocore's frames, and with them a pooled connection, until a later collection."""
    try:
        call()
    except ClientError as exc:
        return exc.response  # type: ignore[no-any-return]
    raise AssertionError("expected the call to fail with a ClientError")


def sigterm_when_parent_dies() -> None:
    """In the child before exec: if the test process is killed (a CI timeout), coserve gets SIGTERM and stops
    its containers, instead of serving on as an orphan. Linux only (prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_block(size: int, count: int) -> int:
    """A base port whose `count` blocks of `size` ports are all free right now.

    Below the kernel's ephemeral range: there every outgoing connection (and its TIME_WAIT) takes a local port at
    random, and on a busy host one lands in a block often enough to fail a server's bind (TorchServe's five)."""
    low, _ = _ephemeral_range()
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(EPHEMERAL_FLOOR, max(EPHEMERAL_FLOOR + 1, low - size * count)) // size * size
        if all(_is_free(p) for p in range(base, base + size * count)):  # every port: safe ports are bound too
            return base
    raise RuntimeError("no free port block")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until `check()` is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)  # poll interval, bounded by the deadline above


@dataclass
class Coserve:
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    endpoint: str
    log: Path
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _fresh: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str = "AKIDTEST", secret: str = "secret", fresh: bool = False) -> Any:
        """A boto3 sagemaker-runtime client, kept and closed at stop() so no socket outlives the test."""
        if fresh or (key, secret) not in self._clients:
            client = boto3.client(
                "sagemaker-runtime", endpoint_url=self.url, region_name="us-east-1",
                aws_access_key_id=key, aws_secret_access_key=secret,
                config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30),
            )  # fmt: skip
            if fresh:
                self._fresh.append(client)
                return client
            self._clients[(key, secret)] = client
        return self._clients[(key, secret)]

    def ping(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            with e:
                return e.code, json.loads(e.read() or b"{}")
        except OSError:
            return 0, {}

    def routes(self) -> dict[str, Any]:
        path = self.workdir / "run" / "routes.json"
        if not path.exists():
            return {}
        return {r["hostname"]: r for e in json.loads(path.read_text())["endpoints"] for r in e["routes"]}

    def state(self, hostname: str) -> str | None:
        try:
            return self.routes().get(hostname, {}).get("state")
        except (json.JSONDecodeError, FileNotFoundError):
            return None

    def wait_state(self, hostname: str, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.state(hostname) == state, timeout, f"{hostname} to be {state} (log: {self.log})")

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 60) -> int:
        for client in [*self._clients.values(), *self._fresh]:
            client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def start_coserve(doc: dict[str, Any], workdir: Path, *, extra_args: list[str] | None = None,
                  wait_ready: bool = True, env: dict[str, str] | None = None,
                  prefix: list[str] | None = None) -> Coserve:  # fmt: skip
    """Write the deployment file, start `coserve serve` on a free port, and wait for the front door.
    `prefix` runs before it and execs it (a cgroup prologue)."""
    workdir.mkdir(parents=True, exist_ok=True)
    own = doc.setdefault("Coserve", {})
    server = own.setdefault("Server", {})
    server.setdefault("LogDir", str(workdir / "logs"))
    server.setdefault("RunDir", str(workdir / "run"))
    server.setdefault("PortBlock", 10)
    server.setdefault("PortBase", free_block(10, len(doc["Containers"])))
    own.setdefault("Storage", {}).setdefault("CacheDir", str(workdir / "cache"))
    path = workdir / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc))
    port = free_port()
    log = workdir / "coserve.log"
    argv = [*(prefix or []), sys.executable, "-m", "runtime", "serve", str(path), "--port", str(port),
            *(extra_args or [])]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})},
            preexec_fn=sigterm_when_parent_dies,
        )  # fmt: skip
    c = Coserve(proc, port, workdir, doc["EndpointName"], log)
    wait_for(lambda: proc.poll() is not None or c.ping()[0] != 0, 30, f"the front door (log: {log})")
    if wait_ready and proc.poll() is None:
        wait_for(lambda: c.ping()[0] == 200, 60, f"every container RUNNING (log: {log})")
    return c


def echo_container(hostname: str, **env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Containers entry and its Coserve.Containers settings for the test echo server."""
    return {"ContainerHostname": hostname, "Image": "process", "Environment": env}, {"Command": ECHO}
