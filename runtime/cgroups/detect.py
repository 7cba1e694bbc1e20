"""Pick the cgroup backend this host supports, and say which one, loudly when it is `none`."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from .api import Backend, check_name
from .none import NoneBackend
from .procfs import Mounts, cgroup_mounts, controllers, own_cgroups, under
from .v1 import REQUIRED, V1Backend
from .v2 import V2Backend

_log = logging.getLogger("runtime.cgroups")

_V2_NEEDS = {"memory", "cpu"}
_DEFAULT_ROOT = Path("/sys/fs/cgroup")


def detect(run_root: str = "coserve", *, root: Path | None = None) -> Backend:
    """Choose v2, v1 or none, prepare this run's directories, and log the choice.

    `root` replaces /sys/fs/cgroup (tests point it at a fake tree). Call this before starting any
    child process (see `v2`). Stale directories are not touched: call `cleanup_stale()`. One
    backend per `run_root` per process: the run directory is named after the pid."""
    check_name("run_root", run_root)
    own = own_cgroups()
    backend, reason = _choose(run_root, root, own, cgroup_mounts())
    try:
        backend.start()
    except OSError as exc:
        reason = f"cgroup {backend.kind} is present but unusable: {exc}"
        with contextlib.suppress(OSError):  # undo whatever part of start() succeeded
            backend.close()
        backend = NoneBackend()
    if isinstance(backend, NoneBackend):
        _log.warning("cgroups: none (%s); memory, CPU and pid limits are NOT enforced", reason)
    else:
        _log.info("cgroups: %s (%s), run directory %s", backend.kind, reason, backend.marker)
    return backend


def _choose(
    run_root: str, root: Path | None, own: dict[str, str], mounts: Mounts
) -> tuple[V2Backend | V1Backend | NoneBackend, str]:
    v2_path = own.get("", "/")
    if root is not None:
        mounts = Mounts(v1={c: root / c for c in (*REQUIRED, "pids") if (root / c).is_dir()})
        candidates = [root]
    else:
        # Only a cgroup2 mount that hands us memory and cpu counts: hybrid hosts mount an empty
        # one at /sys/fs/cgroup/unified next to the v1 hierarchies.
        candidates = sorted(mounts.v2, key=lambda m: m != _DEFAULT_ROOT)
    for mount in candidates:
        if controllers(under(mount, v2_path)) >= _V2_NEEDS:
            return V2Backend(mount, v2_path, run_root), f"unified hierarchy at {mount}"
    if all(c in mounts.v1 and (root is not None or c in own) for c in REQUIRED):
        v1_own = own if root is None else {c: own.get(c, "/") for c in mounts.v1}
        where = ", ".join(f"{c}={under(mounts.v1[c], v1_own[c])}" for c in REQUIRED)
        return V1Backend(mounts.v1, v1_own, run_root), where
    return NoneBackend(), "no cgroup v2 controllers or v1 memory/cpu/cpuacct hierarchies"
