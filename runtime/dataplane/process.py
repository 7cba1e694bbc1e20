"""HAProxy as a child of coserve: started, checked, restarted when it dies, soft-stopped on shutdown.

It runs in the foreground (`-db`), so the handle kept here is HAProxy itself and its exit is seen at once. Its runtime
API (the admin stats socket) changes the routing map without a reload and reads its per-server counters.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger("runtime.dataplane")
BACKOFF_MAX_S = 10.0
STABLE_S = 60.0  # running this long, HAProxy's count of restarts starts again (as a container's StableAfter)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when coserve's thread that started it ends (coserve killed with -9)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def find_haproxy() -> str | None:
    """The binary on PATH (Debian's package installs /usr/sbin/haproxy)."""
    return shutil.which("haproxy")


class HAProxy:
    """One HAProxy process on a configuration file; `ensure(now)` restarts it (with a backoff) after it died."""

    def __init__(self, binary: str, config: Path, socket_path: Path, log_path: Path) -> None:
        self.binary = binary
        self.config = config
        self.socket_path = socket_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._next_start = 0.0
        self._started = 0.0

    def check(self) -> None:
        """Refuse a configuration HAProxy refuses, with its words."""
        done = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"coserve: HAProxy refuses the data plane's configuration {self.config}: "
                             f"{done.stderr.strip() or done.stdout.strip()}")  # fmt: skip

    def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)  # fmt: skip
        log.info("data plane: haproxy pid=%d (%s)", self.proc.pid, self.config)

    def ready(self) -> bool:
        """Its runtime API answers: the listeners are bound by then (HAProxy binds before it serves the socket)."""
        try:
            return self.command("show info").startswith("Name: HAProxy")
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self, now: float) -> bool:
        """Restart a dead HAProxy once its backoff has passed; True when one was started."""
        if self.alive() and now - self._started > STABLE_S:
            self.restarts = 0
        if self.alive() or now < self._next_start:
            return False
        code = self.proc.returncode if self.proc is not None else None
        self.restarts += 1
        self._next_start = now + min(2.0 ** min(self.restarts, 8) / 4, BACKOFF_MAX_S)
        log.error("data plane: haproxy exited (%s); restarting it (restart %d)", code, self.restarts)
        self.start()
        self._started = now
        return True

    def command(self, line: str, timeout: float = 2.0) -> str:
        """One runtime API command; its whole answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.socket_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def stop(self, grace_s: float) -> None:
        """Soft stop (SIGUSR1): listeners close, open requests finish; SIGKILL after `grace_s` more."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGUSR1)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("data plane: haproxy did not stop within %gs; killing it", grace_s)
            proc.kill()
            proc.wait()

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.ready():
            if not self.alive():
                raise SystemExit(f"coserve: haproxy exited at start; see {self.log_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"coserve: haproxy did not answer on {self.socket_path} within {seconds:g}s")
            time.sleep(0.02)  # poll interval, bounded by the deadline
