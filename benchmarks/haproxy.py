"""HAProxy (Debian's package) as the overhead benchmark's anchor: the same route, the same container, one run;
and the floor beside it: the front door's own HTTP server answering without proxying.

It routes on the SageMaker target header to the echo container coserve started, with keep-alive to the
client and to the container, as a front door in its place would. It runs in its own cgroup (the benchmark
reads its CPU there, as it reads coserve's) and on the same CPUs as coserve. It runs as many threads as it
has CPUs (HAProxy's default), so on a bigger host both get the same cores.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.instance import InstanceCgroup
from tests.support import free_port, wait_for

CONFIG = """\
global
    maxconn 4000

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    http-reuse always

frontend sagemaker
    bind 127.0.0.1:{port}
    use_backend {host} if {{ req.hdr({header}) -m str {host} }}

backend {host}
    server {host} 127.0.0.1:{target}
"""


class HAProxySide:
    """HAProxy in front of one container port, with the CPU it used (its cgroup) on demand."""

    name = "haproxy"

    def __init__(self, work: Path, server_cpus: str | None, cgroup_name: str) -> None:
        self.work = work / self.name
        self.server_cpus = server_cpus
        self.cgroup = InstanceCgroup(cgroup_name, 64.0, 1 << 30)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, header: str, host: str, target_port: int) -> None:
        binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if binary is None:
            raise SystemExit("haproxy is not installed: apt-get install haproxy")
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "haproxy.cfg"
        config.write_text(CONFIG.format(port=self.port, header=header, host=host, target=target_port))
        check = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejects its configuration: {check.stderr}")
        pin = ["taskset", "-c", self.server_cpus] if self.server_cpus else []
        self.cgroup.create()
        with (self.work / "haproxy.log").open("wb") as log:
            argv = [*pin, *self.cgroup.prologue([binary, "-db", "-f", str(config)])]
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc is not None and (self.proc.poll() is not None or _listening(self.port)), 10,
                 "haproxy to listen")  # fmt: skip
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {self.proc.returncode}; see {self.work / 'haproxy.log'}")

    def urls(self) -> tuple[str, str]:
        return "", f"http://127.0.0.1:{self.port}/invocations"

    def cpu_ns(self) -> tuple[int, int]:
        """(HAProxy's CPU ns, 0: it runs no containers)."""
        return self.cgroup.cpu_ns(), 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.cgroup.remove()


class FloorSide:
    """benchmarks/containers/uvicorn_floor.py in its own cgroup: the front door's HTTP server, no proxying."""

    name = "uvicorn-floor"

    def __init__(self, work: Path, server_cpus: str | None, cgroup_name: str) -> None:
        self.work = work / self.name
        self.server_cpus = server_cpus
        self.cgroup = InstanceCgroup(cgroup_name, 64.0, 1 << 30)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        pin = ["taskset", "-c", self.server_cpus] if self.server_cpus else []
        script = Path(__file__).resolve().parent / "containers" / "uvicorn_floor.py"
        self.cgroup.create()
        with (self.work / "floor.log").open("wb") as log:
            argv = [*pin, *self.cgroup.prologue([sys.executable, str(script), str(self.port)])]
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc is not None and (self.proc.poll() is not None or _listening(self.port)), 30,
                 "the uvicorn floor to listen")  # fmt: skip
        if self.proc.poll() is not None:
            raise RuntimeError(f"the uvicorn floor exited with {self.proc.returncode}; see {self.work / 'floor.log'}")

    def urls(self) -> tuple[str, str]:
        return "", f"http://127.0.0.1:{self.port}/invocations"

    def cpu_ns(self) -> tuple[int, int]:
        return self.cgroup.cpu_ns(), 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.cgroup.remove()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
