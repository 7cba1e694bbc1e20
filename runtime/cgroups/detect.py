"""Pick the cgroup backend this host supports, and say which one, loudly when it is `none`."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from .api import Backend, check_name
from .claim import claim_v2
from .none import NoneBackend
from .place import as_cgroup_path, mount_roots
from .procfs import Mounts, cgroup_mounts, controllers, own_cgroups, under
from .v1 import REQUIRED, V1Backend
from .v2 import NOT_ENFORCED, WANTED, V2Backend

_log = logging.getLogger("runtime.cgroups")

_DEFAULT_ROOT = Path("/sys/fs/cgroup")


def detect(run_root: str = "coserve", *, root: Path | None = None) -> Backend:
    """Choose v2, v1 or none, prepare this run's directories, and log the choice.

    `root` replaces /sys/fs/cgroup (tests point it at a fake tree). Call this before starting any
    child process (see `v2`). Stale directories are not touched: call `cleanup_stale()`. One
    backend per `run_root` per process: the run directory is named after the pid."""
    check_name("run_root", run_root)
    backend: V2Backend | V1Backend | NoneBackend = NoneBackend()
    try:
        backend, reason = _choose(run_root, root, own_cgroups(), cgroup_mounts())
        backend.start()
    except OSError as exc:
        reason = f"cgroups are present but unusable: {exc}"
        with contextlib.suppress(OSError):  # undo whatever part of start() succeeded
            backend.close()
        backend = NoneBackend()
    if isinstance(backend, NoneBackend):
        _log.warning("cgroups: none (%s); memory, CPU and pid limits are NOT enforced", reason)
        return backend
    _log.info("cgroups: %s (%s), run directory %s", backend.kind, reason, backend.marker)
    if isinstance(backend, V2Backend) and backend.missing:
        _warn_missing(backend)
    return backend


def _warn_missing(backend: V2Backend) -> None:
    missing, given = backend.missing, " ".join(backend.enabled) or "none"
    limits = " and ".join(NOT_ENFORCED[c] for c in missing)
    _log.warning(
        "cgroups: v2 without the %s controller%s (coserve's cgroup is given only: %s): %s limits are NOT enforced",
        " and ".join(missing),
        "s" if len(missing) > 1 else "",
        given,
        limits,
    )


def _choose(
    run_root: str, root: Path | None, own: dict[str, str], mounts: Mounts
) -> tuple[V2Backend | V1Backend | NoneBackend, str]:
    v2_path = own.get("", "/")
    if root is not None:
        mounts = Mounts(v1={c: root / c for c in (*REQUIRED, "pids") if (root / c).is_dir()})
        if controllers(root) & set(WANTED):
            return V2Backend(root, v2_path, run_root), f"unified hierarchy at {root}"
    else:
        v2, why = _claim(run_root, v2_path, mounts)
        if v2 is not None or why:
            return (v2 or NoneBackend()), why
    if all(c in mounts.v1 and (root is not None or c in own) for c in REQUIRED):
        v1_own = own if root is None else {c: own.get(c, "/") for c in mounts.v1}
        where = ", ".join(f"{c}={under(mounts.v1[c], v1_own[c])}" for c in REQUIRED)
        return V1Backend(mounts.v1, v1_own, run_root), where
    return NoneBackend(), "no cgroup v2 controllers or v1 memory/cpu/cpuacct hierarchies"


def _claim(run_root: str, own: str, mounts: Mounts) -> tuple[V2Backend | None, str]:
    """The v2 backend on the mount that carries controllers; (None, "") where no mount does.

    Hybrid hosts mount an empty cgroup2 at /sys/fs/cgroup/unified next to the v1 hierarchies: a
    mount whose top hands out none of memory, cpu, pids is not the one."""
    roots = mount_roots()
    for mount in sorted(mounts.v2, key=lambda m: m != _DEFAULT_ROOT):
        if not controllers(mount) & set(WANTED) or mount not in roots:
            continue
        path, why = claim_v2(mount, own, roots[mount], run_root)
        if path is None:
            return None, why
        if not controllers(path) & set(WANTED):
            return None, f"coserve's cgroup {path} is given none of the {', '.join(WANTED)} controllers"
        return V2Backend(mount, as_cgroup_path(path, mount), run_root), why
    return None, ""
