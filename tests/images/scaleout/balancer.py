"""HAProxy (Debian's package) in front of the test's hosts, and its runtime API for what it thinks of them.

The configuration is the one the README's "More than one host" recommends for coserve hosts: health checks
on /ping (200 only when every container is RUNNING), and a request whose connection to a host fails is
retried on another host (`retry-on conn-failure` with `option redispatch`). A request a host accepted and
then lost (the host died mid-answer) is not retried: it may have run, and InvokeEndpoint is not idempotent.
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support import free_port, sigterm_when_parent_dies, wait_for

INTER_S = 1.0  # health check interval
FALL = 2  # failed checks in a row that take a host out of rotation
RISE = 2  # passed checks in a row that bring it back

CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend sagemaker
    bind 127.0.0.1:{port}
    default_backend coserve

backend coserve
    balance roundrobin
    option httpchk GET /ping
    http-check expect status 200
    default-server check inter {inter_ms} fall {fall} rise {rise}
{servers}
"""


class Balancer:
    def __init__(self, workdir: Path, servers: dict[str, str]) -> None:
        self.workdir = workdir
        self.servers = servers  # name -> address:port
        self.port = free_port()
        self.socket = workdir / "admin.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if binary is None:
            raise RuntimeError("haproxy is not installed: bash images/install.sh --extras dev installs it")
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = "\n".join(f"    server {name} {addr}" for name, addr in self.servers.items())
        config = self.workdir / "haproxy.cfg"
        config.write_text(CONFIG.format(socket=self.socket, port=self.port, inter_ms=int(INTER_S * 1000),
                                        fall=FALL, rise=RISE, servers=lines))  # fmt: skip
        check = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, f"haproxy rejects its configuration: {check.stderr}"
        with (self.workdir / "haproxy.log").open("wb") as log:
            self.proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=sigterm_when_parent_dies)  # fmt: skip
        wait_for(lambda: self.socket.exists() and self._listening(), 10, "haproxy to listen")

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """Each server's row of `show stat`: status (UP, DOWN, ...), scur (in flight), wretr, wredis, ..."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows if r["pxname"] == "coserve" and r["svname"] in self.servers}

    def status(self, name: str) -> str:
        return self.stats()[name]["status"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
