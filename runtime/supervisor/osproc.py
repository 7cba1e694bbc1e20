"""The OS seam: spawning, signalling and log pumping. Unit tests replace it with a fake."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Protocol


class Handle(Protocol):
    pid: int

    def poll(self) -> int | None: ...


class ProcessOs(Protocol):
    def spawn(self, hostname: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> Handle: ...

    def signal_group(self, pid: int, sig: signal.Signals) -> None: ...


class RealOs:
    """Each container is its own session and process group; its output goes to its log and ours."""

    def spawn(self, hostname: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> Handle:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        pump = threading.Thread(
            target=_pump, args=(hostname, proc.stdout, log_path), name=f"log-{hostname}", daemon=True
        )
        pump.start()
        return proc

    def signal_group(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(pid, sig)


def _pump(hostname: str, stream: IO[bytes], log_path: Path) -> None:
    """Copy each line to the container's own log file, and to coserve's log under its hostname."""
    logger = logging.getLogger(f"runtime.container.{hostname}")
    with stream, log_path.open("ab", buffering=0) as out:
        for raw in stream:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            out.write(f"{stamp}Z ".encode() + raw)
            logger.info("%s", raw.decode(errors="replace").rstrip())
