"""The OS seam: spawning, signalling and log pumping. Unit tests replace it with a fake."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Protocol


class Handle(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def last_lines(self) -> list[str]:
        """The last lines the process wrote, once it has exited (for the message of a failed start)."""
        ...


class LogFile(Protocol):
    def write(self, line: bytes) -> None: ...


class ProcessOs(Protocol):
    def container_log(self, path: Path) -> LogFile:
        """The writer of a container's log, shared by its output and the supervisor's lifecycle lines."""
        ...

    def spawn(self, hostname: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> Handle: ...

    def signal_group(self, pid: int, sig: signal.Signals) -> None: ...


TAIL_LINES = 20  # output lines kept per spawn for the message of a failed start
PUMP_DRAIN_S = 1.0


class RealOs:
    """Each container is its own session and process group; its output goes to its log and ours."""

    def __init__(self, log_max_bytes: int = 10 * 2**20, log_backups: int = 5) -> None:
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self._logs: dict[Path, RotatingLog] = {}

    def container_log(self, path: Path) -> RotatingLog:
        """One writer per file, shared by every spawn's pump and the lifecycle lines, so rotation is safe."""
        if path not in self._logs:
            self._logs[path] = RotatingLog(path, self.log_max_bytes, self.log_backups)
        return self._logs[path]

    def spawn(self, hostname: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> Handle:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        pump = threading.Thread(
            target=_pump, args=(hostname, proc.stdout, self.container_log(log_path), tail), name=f"log-{hostname}",
            daemon=True,
        )  # fmt: skip
        pump.start()
        return Spawned(proc, pump, tail)

    def signal_group(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(pid, sig)

    def close(self) -> None:
        for out in self._logs.values():
            out.close()


class Spawned:
    """A spawned process: Popen's pid and poll, and the last lines its pump copied."""

    def __init__(self, proc: subprocess.Popen[bytes], pump: threading.Thread, tail: deque[str]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._pump = pump
        self._tail = tail

    def poll(self) -> int | None:
        return self.proc.poll()

    def last_lines(self) -> list[str]:
        # The pipe ends once every writer is gone (the supervisor has killed the cgroup by now); bounded,
        # because a process that escaped it could hold the pipe open.
        self._pump.join(PUMP_DRAIN_S)
        return list(self._tail)


class RotatingLog:
    """A container's log file, one timestamped line per write, rotated by size as logging's
    RotatingFileHandler does (<hostname>.log -> .log.1 -> ... -> .log.N, the oldest dropped)."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()  # the pump thread and the supervisor's event lines share the file
        self._out: IO[bytes] | None = None
        self._size = 0

    def write(self, line: bytes) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z "
        data = stamp.encode() + line.rstrip(b"\n") + b"\n"
        with self._lock:
            if self._out is None:
                self._out = self.path.open("ab", buffering=0)
                self._size = self._out.tell()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            assert self._out is not None
            self._out.write(data)
            self._size += len(data)

    def _rotate(self) -> None:
        assert self._out is not None
        self._out.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._out, self._size = self.path.open("wb", buffering=0), 0

    def close(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None


def _pump(hostname: str, stream: IO[bytes], out: RotatingLog, tail: deque[str]) -> None:
    """Copy each line to the container's own log file, and to coserve's log under its hostname."""
    logger = logging.getLogger(f"runtime.container.{hostname}")
    with stream:
        for raw in stream:
            out.write(raw)
            line = raw.decode(errors="replace").rstrip()
            logger.info("%s", line)
            if line.strip():
                tail.append(line)
