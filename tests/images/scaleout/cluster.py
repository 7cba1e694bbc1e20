"""One coserve host in a network namespace: its own copy of the deployment file, started, stopped, killed.

The file is the desired state every host shares: byte for byte the same on each host (its relative LogDir,
RunDir and CacheDir land in the host's own folder). The front door binds the namespace's address; there is
no Coserve.Auth in a test deployment, so `--allow-unauthenticated` says that an open door is meant.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml

from tests.images.scaleout.netns import Host
from tests.support import ECHO, ROOT, sigterm_when_parent_dies, wait_for

PORT = 8080
ENDPOINT = "scaleout"


def deployment(model: Path) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "Containers": [{"ContainerHostname": "echo", "Image": "process", "ModelDataUrl": model.as_uri()}],
        "Coserve": {
            "Containers": {"echo": {"Command": ECHO, "Memory": "128MiB"}},
            # Each namespace has its own loopback: the same container ports on every host.
            "Server": {"LogDir": "logs", "RunDir": "run", "PortBase": 21000, "PortBlock": 10,
                       "DrainTimeout": "10s", "StopGrace": "5s"},
            "Storage": {"CacheDir": "cache"},
        },
    }  # fmt: skip


class CoserveHost:
    def __init__(self, host: Host, workdir: Path) -> None:
        self.host = host
        self.workdir = workdir
        self.file = workdir / "deploy.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: set[psutil.Process] = set()  # every process of this host, to prove none is left
        self.starts = 0
        self.coserve_pids: set[int] = set()  # each start's coserve process (its cgroups are named after it)

    @property
    def name(self) -> str:
        return f"h{self.host.index}"

    @property
    def address(self) -> str:
        return f"{self.host.address}:{PORT}"

    def write(self, doc: dict[str, Any]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.file.write_text(yaml.safe_dump(doc, sort_keys=True))

    def start(self) -> None:
        self.starts += 1
        argv = [*self.host.enter(), sys.executable, "-m", "runtime", "serve", str(self.file),
                "--host", self.host.address, "--port", str(PORT), "--allow-unauthenticated"]  # fmt: skip
        with (self.workdir / f"coserve.{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=sigterm_when_parent_dies)  # fmt: skip
        self.seen.add(psutil.Process(self.proc.pid))
        self.coserve_pids.add(self.proc.pid)

    def ping(self) -> int:
        try:
            with urllib.request.urlopen(f"http://{self.address}/ping", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            e.close()
            return e.code
        except OSError:
            return 0

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited (log in {self.workdir})"
            self._remember()
            return self.ping() == 200

        wait_for(ready, timeout, f"{self.name} to answer /ping with 200")

    def _remember(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.seen.update(psutil.Process(self.proc.pid).children(recursive=True))

    def kill(self) -> None:
        """The host dies at once: coserve and every process under it, SIGKILL, nothing cleaned up."""
        assert self.proc is not None
        self._remember()
        for p in [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM: coserve stops accepting, drains, stops its containers and exits."""
        assert self.proc is not None
        self._remember()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def alive(self) -> list[psutil.Process]:
        return [p for p in self.seen if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def close(self) -> None:
        if self.proc is not None:
            self._remember()
            if self.proc.poll() is None:
                try:
                    self.terminate(30)
                except subprocess.TimeoutExpired:
                    self.kill()
        for p in self.alive():  # whatever a killed host left behind
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
