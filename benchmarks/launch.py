"""Start coserve for real, as a user would, optionally under a prefix (a cgroup prologue, taskset), and stop it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import ROOT
from tests.support import free_block, free_port, wait_for


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    started: float  # time.monotonic() at spawn

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()
        except OSError:
            return 0, b""

    def routes(self) -> dict[str, Any]:
        doc = json.loads((self.workdir / "run" / "routes.json").read_text())
        # A host table, or the one-endpoint table of an older checkout (--patched-root).
        routes = doc["routes"] if "routes" in doc else [r for e in doc["endpoints"] for r in e["routes"]]
        return {r["hostname"]: r for r in routes}

    def status(self) -> dict[str, Any]:
        """GET /coserve/status: each container's state, ready_seconds, memory and CPU."""
        code, body = self.get("/coserve/status")
        return json.loads(body) if code == 200 else {}

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start(doc: dict[str, Any], workdir: Path, prefix: list[str] | None = None, ready_s: float = 240,
          root: Path = ROOT) -> Running:  # fmt: skip
    """Write the deployment file, start `coserve serve` (from checkout `root`) on a free port, wait until every
    container is RUNNING."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = doc.setdefault("Coserve", {}).setdefault("Server", {})
    server.setdefault("LogDir", str(workdir / "logs"))
    server.setdefault("RunDir", str(workdir / "run"))
    server.setdefault("PortBlock", 10)
    server.setdefault("PortBase", free_block(10, len(doc["Containers"])))
    doc["Coserve"].setdefault("Storage", {}).setdefault("CacheDir", str(workdir / "cache"))
    path = workdir / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc))
    port = free_port()
    argv = [*(prefix or []), sys.executable, "-m", "runtime", "serve", str(path), "--port", str(port)]
    with (workdir / "coserve.log").open("wb") as out:
        env = {**os.environ, "PYTHONPATH": str(root)}  # this checkout's runtime, even next to an editable install
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env)
    running = Running(proc, port, workdir, time.monotonic())
    try:
        wait_for(lambda: proc.poll() is not None or running.get("/ping")[0] == 200, ready_s, "every container RUNNING")
    except TimeoutError:
        running.stop()
        raise
    if proc.poll() is not None:
        raise RuntimeError(f"coserve exited with {proc.returncode}; see {workdir / 'coserve.log'}")
    return running


@contextlib.contextmanager
def serving(doc: dict[str, Any], workdir: Path, prefix: list[str] | None = None) -> Iterator[Running]:
    running = start(doc, workdir, prefix)
    try:
        yield running
    finally:
        running.stop()
