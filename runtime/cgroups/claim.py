"""Decide which cgroup v2 coserve may manage, getting one of its own from systemd where needed.

The kernel lets a cgroup hand controllers to children only while it holds no processes (the root
excepted), and systemd owns the cgroups of units it did not delegate. So, in this order:
- the host's root cgroup: usable as it is;
- the root of a private cgroup namespace (a container's cgroup): it is the container's whole, so the
  other processes there (an init such as tini) move to a leaf `init`, as systemd moves itself to
  `init.scope`;
- a cgroup coserve has to itself, not a systemd unit's without delegation: usable;
- otherwise a transient systemd scope with `Delegate=yes` (`scope`), or, without systemd, no cgroup
  and a message saying how to start coserve instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .place import Place, is_host_root, locate, members, others, systemd_owned
from .scope import move_to_scope, own_v2_path, scope_available
from .tree import run_marker

_log = logging.getLogger("runtime.cgroups")

INIT_LEAF = "init"
ADVICE = (
    "start coserve in a cgroup of its own: as the coserve.service unit (Delegate=yes), under "
    "`systemd-run --scope -p Delegate=yes coserve serve ...`, or with "
    "`sh -c 'mkdir /sys/fs/cgroup/coserve && echo $$ > /sys/fs/cgroup/coserve/cgroup.procs && exec coserve serve ...'`"
)


def claim_v2(mount: Path, own: str, mount_root: str, run_root: str) -> tuple[Path | None, str]:
    """coserve's own cgroup below `mount` and how it was chosen; (None, why) if there is none."""
    place = locate(mount, own, mount_root)
    if place is None:
        return None, f"cannot find coserve's cgroup {own} below the cgroup2 mount {mount} (its root: {mount_root})"
    if is_host_root(place.path):
        return place.path, f"the root cgroup of {mount}"
    if place.ns_root:
        return place.path, _adopt(place)
    problem = _problem(place, mount)
    if problem is None:
        return place.path, f"{place.path}"
    if not scope_available():
        return None, f"{problem}; {ADVICE}"
    unit = f"{run_marker(run_root)}.scope"
    try:
        move_to_scope(unit, f"coserve (pid {run_marker(run_root).split('.')[1]}) and its containers")
    except OSError as exc:
        return None, f"{problem}; {exc}; {ADVICE}"
    moved = locate(mount, own_v2_path(), mount_root)
    if moved is None or others(moved.path):
        return None, f"{problem}; the systemd scope {unit} is not usable; {ADVICE}"
    return moved.path, f"{problem}, so coserve moved into the systemd scope {unit} (Delegate=yes)"


def _problem(place: Place, mount: Path) -> str | None:
    busy = others(place.path)
    if busy:
        pids = " ".join(map(str, busy[:10])) + (" ..." if len(busy) > 10 else "")
        return f"coserve's cgroup {place.path} also holds other processes ({pids})"
    if systemd_owned(place.path, mount):
        return f"coserve's cgroup {place.path} is a systemd unit's, not delegated (no Delegate=yes)"
    return None


def _adopt(place: Place) -> str:
    """Move the namespace's other processes into `init`, so that the root can hand out controllers."""
    busy = others(place.path)
    how = f"{place.path}, the root of coserve's cgroup namespace"
    if not busy:
        return how
    leaf = place.path / INIT_LEAF
    leaf.mkdir(exist_ok=True)
    moved = []
    for pid in busy:
        try:
            (leaf / "cgroup.procs").write_text(str(pid))
            moved.append(pid)
        except ProcessLookupError:
            continue  # it exited meanwhile
    if not members(leaf):
        leaf.rmdir()
    _log.info("cgroups: moved the other processes of %s (%s) into %s", place.path, moved, leaf)
    return f"{how}; its other processes {moved} moved to {INIT_LEAF}/"
