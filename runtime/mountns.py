"""Shared storage, private view: each container sees its own model directory at /opt/ml/model.

Unmodified SageMaker-style servers hard-code /opt/ml/model. Where the host allows it (root, and
util-linux `unshare`), a container runs in a private mount namespace in which its model directory
is bind-mounted read-only there, so two containers see two different directories at one path.
Where it does not, `private_model_mount_supported()` says so in a WARNING and the supervisor passes
the path in the environment instead.

More directories may be mounted the same way beside it (AdditionalModelDataSources, at
/opt/ml/additional-model-data-sources).

The mount point itself is an ordinary directory on the host: a mount needs one, and `mkdir` is not
namespaced. The first wrapped container creates /opt/ml/model (and any other target; if missing) and
leaves it empty; nothing is ever mounted on it outside the private namespaces, and nothing is written
into it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from pathlib import Path

_log = logging.getLogger("runtime.mountns")

MODEL_TARGET = Path("/opt/ml/model")
MOUNT_FAILED_EXIT = 125

# $1 the number of mounts, then a (target, source) pair for each, then the argv. Bind, then remount
# read-only: `mount --bind -o ro` alone is ignored by older util-linux/kernels, leaving the view writable.
_SCRIPT = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do '
    'mkdir -p "$1" && mount --bind "$2" "$1" && mount -o remount,bind,ro "$1" || '
    f'{{ echo "coserve: cannot mount $2 read-only at $1" >&2; exit {MOUNT_FAILED_EXIT}; }}; '
    'shift 2; n=$((n - 1)); done; exec "$@"'
)


@functools.cache
def private_model_mount_supported() -> bool:
    """Whether private model mounts work here; probed once, with a WARNING when they do not."""
    reason = _probe()
    if reason is not None:
        _log.warning(
            "private %s mounts unavailable (%s); containers get their model path in the environment",
            MODEL_TARGET,
            reason,
        )
    return reason is None


def _probe() -> str | None:
    if os.geteuid() != 0:
        return "not running as root"
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH"
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if probe.returncode != 0:
        return f"unshare exited {probe.returncode}: {probe.stderr.strip()}"
    return None


def wrap_private_model_mount(
    argv: list[str], model_dir: Path, target: Path = MODEL_TARGET, more: tuple[tuple[Path, Path], ...] = ()
) -> list[str]:
    """An argv that runs `argv` in a new mount namespace with `model_dir` read-only at `target`, and
    each (host, target) pair of `more` read-only at its target (AdditionalModelDataSources).

    Compose it inside the cgroup's wrapper, `cgroup.wrap(wrap_private_model_mount(...))`, so that
    `unshare` and the mount shell already run in the container's cgroup. Exits 125 with a message
    on stderr if the mount fails."""
    if not argv:
        raise ValueError("argv: must name a program to run")
    unshare = shutil.which("unshare") or "unshare"
    return [
        unshare,
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        _SCRIPT,
        "coserve-mount",
        str(1 + len(more)),
        str(target.absolute()),
        str(model_dir.resolve()),
        *(str(p) for host, there in more for p in (there.absolute(), host.resolve())),
        *argv,
    ]
