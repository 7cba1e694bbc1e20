"""A cgroup of coserve's own from systemd: a transient scope with `Delegate=yes`, as podman and crun get.

Used when coserve's cgroup holds other processes (a login shell's session scope, a service that
started it) or is a unit systemd did not delegate. The call is systemd's D-Bus
`StartTransientUnit` with `PIDs=[this process]`, made with `busctl` (it ships with systemd, so no
D-Bus library is needed). It moves the running process, so nothing is re-executed: coserve keeps
its pid, arguments, open files and the deployment it already read. systemd removes the scope once
it is empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .place import SYSTEMD_RUNNING

WAIT_S = 30.0
"""systemd runs the start job asynchronously; a slow (emulated) host needs seconds."""
_POLL_S = 0.02
_MANAGER = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")


def scope_available() -> bool:
    return SYSTEMD_RUNNING.is_dir() and shutil.which("busctl") is not None and os.geteuid() == 0


def move_to_scope(unit: str, description: str) -> None:
    """Move this process into a new delegated scope `unit`; OSError saying why where it fails."""
    pid = str(os.getpid())
    properties = [
        *("PIDs", "au", "1", pid),
        *("Delegate", "b", "true"),
        *("CollectMode", "s", "inactive-or-failed"),
        *("Description", "s", description),
    ]
    argv = ["busctl", "call", *_MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))", unit, "fail", "4"]
    try:
        done = subprocess.run([*argv, *properties, "0"], capture_output=True, text=True, timeout=WAIT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OSError(f"busctl StartTransientUnit {unit}: {exc}") from exc
    if done.returncode != 0:
        raise OSError(f"systemd refused the scope {unit}: {done.stderr.strip() or done.returncode}")
    deadline = time.monotonic() + WAIT_S
    while not own_v2_path().endswith(f"/{unit}"):
        if time.monotonic() > deadline:
            raise OSError(f"systemd did not move coserve into {unit} within {WAIT_S:g}s")
        time.sleep(_POLL_S)  # polling the kernel's own answer, bounded by the deadline


def own_v2_path() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""
