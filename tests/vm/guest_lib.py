"""Helpers for the checks that run inside the guest (stdlib only): start coserve, invoke, poll, read cgroups.

Copied into the guest by tests/vm/run.sh; runs as root on a real cgroup v2 kernel under systemd.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

CG = Path("/sys/fs/cgroup")
PY = "/opt/coserve-test/bin/python"
ECHO = ["/usr/bin/python3", "/opt/coserve-vm/echo.py"]
WORK = Path("/var/tmp/vm-checks")
READY_S = 240.0  # two Python servers and coserve under instruction emulation


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)  # poll interval, bounded by the deadline


def deployment(name: str, port_base: int, work: Path) -> dict[str, Any]:
    """Two echo containers: `hog` (64 MiB, 64 tasks) and `steady` (half a core, weight 200, 32 tasks)."""
    containers = [{"ContainerHostname": h, "Image": "process", "Environment": {}} for h in ("hog", "steady")]
    return {
        "EndpointName": name,
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": containers,
        "Coserve": {
            "Containers": {
                "hog": {"Command": ECHO, "Memory": "64MiB", "Pids": 64},
                "steady": {"Command": ECHO, "Cpus": 0.5, "CpuWeight": 200, "Pids": 32},
            },
            "Server": {"LogDir": str(work / "logs"), "RunDir": str(work / "run"), "PortBase": port_base,
                       "PortBlock": 10, "BackoffBase": "0.2s"},
            "Storage": {"CacheDir": str(work / "cache")},
        },
    }  # fmt: skip


class Coserve:
    """coserve started as a user would, with `prefix` (a shell that moves it somewhere first)."""

    def __init__(self, name: str, port: int, prefix: list[str] | None = None) -> None:
        self.name, self.port = name, port
        self.work = WORK / name
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "deploy.yaml").write_text(json.dumps(deployment(name, port + 100, self.work)))
        self.log = self.work / "coserve.log"
        argv = [PY, "-m", "runtime", "serve", str(self.work / "deploy.yaml"), "--port", str(port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*(prefix or []), *argv], stdout=out, stderr=subprocess.STDOUT)

    def ready(self) -> Coserve:
        wait_for(lambda: self.proc.poll() is not None or ping(self.port) == 200, READY_S, f"{self.name} ready")
        assert self.proc.poll() is None, f"coserve exited {self.proc.returncode}:\n{self.text()[-3000:]}"
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120) -> int:
        if self.proc.poll() is None:
            os.kill(self.coserve_pid(), sig)
        return self.proc.wait(timeout)

    def coserve_pid(self) -> int:
        """coserve's own pid: the child of a prefix (unshare --fork), else the process started."""
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[:3] == [PY.encode(), b"-m", b"runtime"]:
                return pid
        raise AssertionError(f"no coserve process below {self.proc.pid}")


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def ping(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def invoke(port: int, endpoint: str, hostname: str, attrs: str = "", timeout: float = 60) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "X-Amzn-SageMaker-Target-Container-Hostname": hostname}
    if attrs:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = attrs
    url = f"http://127.0.0.1:{port}/endpoints/{endpoint}/invocations"
    request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


class Load:
    """Requests to one container in a loop on a thread, counting answers and failures."""

    def __init__(self, port: int, endpoint: str, hostname: str) -> None:
        self.served, self.failures = 0, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._args = (port, endpoint, hostname)
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = invoke(*self._args)
            except OSError as exc:
                status, body = 0, str(exc).encode()
            if status == 200:
                self.served += 1
            else:
                self.failures.append((status, body[:200]))

    def finish(self) -> None:
        self._stop.set()
        self._thread.join()


def cgroup_of(pid: int) -> Path:
    line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if x.startswith("0::"))
    return CG / line[3:].lstrip("/")


def read(path: Path) -> str:
    return path.read_text().strip()


def run_dirs(parent: Path) -> list[Path]:
    return sorted(parent.glob("coserve.*")) if parent.is_dir() else []


def all_coserve_cgroups() -> list[Path]:
    """Every cgroup coserve made anywhere: run directories and scopes."""
    return sorted(p for p in CG.rglob("coserve.*") if p.is_dir())
