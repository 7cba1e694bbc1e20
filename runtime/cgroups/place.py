"""Where coserve's own cgroup v2 really is, and whether coserve may manage what lies below it.

/proc/self/cgroup names the cgroup relative to the cgroup namespace's root, and /proc/self/mountinfo
names each cgroup2 mount's root relative to that same root. In a private namespace with a fresh
mount both are "/"; in a namespace that still sees the host's mount, the mount's root reads like
"/../.." (two levels above the namespace root), and the directory is found by the one cgroup below
that depth whose `cgroup.procs` lists this process. Whatever is found must list this process: coserve
never creates a cgroup anywhere else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_UNIT = re.compile(r".+\.(service|scope|slice)")
_DELEGATE_XATTRS = ("trusted.delegate", "user.delegate")
SYSTEMD_RUNNING = Path("/run/systemd/system")
"""systemd's own test for "booted with systemd" (sd_booted)."""


@dataclass(frozen=True)
class Place:
    path: Path
    """The directory of coserve's own cgroup."""
    ns_root: bool
    """True when it is the root of coserve's cgroup namespace but not the host's root: a
    container's cgroup, given whole to whatever runs inside."""


def mount_roots(text: str | None = None) -> dict[Path, str]:
    """cgroup2 mount point → its root, as /proc/self/mountinfo writes it."""
    if text is None:
        text = Path("/proc/self/mountinfo").read_text()
    roots: dict[Path, str] = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            fields = left.split()
            roots[Path(fields[4])] = fields[3]
    return roots


def locate(mount: Path, own: str, mount_root: str, pid: int | None = None) -> Place | None:
    """The directory of cgroup `own` below `mount`; None where it cannot be found for certain."""
    pid = os.getpid() if pid is None else pid
    parts = [p for p in mount_root.split("/") if p]
    own_parts = [p for p in own.split("/") if p]
    if parts and all(p == ".." for p in parts):
        found = [d for d in _at_depth(mount, len(parts)) if pid in members(d.joinpath(*own_parts))]
        path = found[0].joinpath(*own_parts) if len(found) == 1 else None
    elif ".." in parts or own_parts[: len(parts)] != parts:
        path = None  # the mount shows another branch of the tree than the one coserve is in
    else:
        path = mount.joinpath(*own_parts[len(parts) :])
    if path is None or pid not in members(path):
        return None
    return Place(path, ns_root=not own_parts and not is_host_root(path))


def real_v2_path(mount: Path, own: str, roots: dict[Path, str] | None = None) -> str:
    """`own` as a path below `mount`, found for real where the mount shows more than the namespace."""
    root = (mount_roots() if roots is None else roots).get(mount, "/")
    found = locate(mount, own, root) if root != "/" else None
    return as_cgroup_path(found.path, mount) if found is not None else own


def as_cgroup_path(path: Path, mount: Path) -> str:
    """A directory below `mount` written as /proc/self/cgroup writes cgroups: "/" for the mount itself."""
    return "/" + "/".join(path.relative_to(mount).parts)


def members(path: Path) -> list[int]:
    """The processes directly in the cgroup (`tree.read_pids` adds its descendants')."""
    try:
        return [int(word) for word in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _at_depth(top: Path, depth: int) -> list[Path]:
    level = [top]
    for _ in range(depth):
        level = [child for d in level for child in _subdirs(d)]
    return level


def _subdirs(path: Path) -> list[Path]:
    try:
        return [child for child in path.iterdir() if child.is_dir()]
    except OSError:
        return []


def is_host_root(path: Path) -> bool:
    """The host's root cgroup is the only one without `cgroup.type`."""
    return not (path / "cgroup.type").exists()


def others(path: Path, pid: int | None = None) -> list[int]:
    """Processes in the cgroup besides this one."""
    pid = os.getpid() if pid is None else pid
    return [p for p in members(path) if p != pid]


def systemd_owned(path: Path, mount: Path) -> bool:
    """A systemd unit's cgroup that systemd did not delegate (`Delegate=yes` sets the xattr).

    Writing below it would fight systemd, which keeps `cgroup.subtree_control` of its own units.
    A cgroup that is no unit's (made by hand) belongs to whoever made it."""
    if not SYSTEMD_RUNNING.is_dir() or not _UNIT.fullmatch(path.name):
        return False
    return not any(_delegated(p) for p in [path, *path.parents] if p.is_relative_to(mount))


def _delegated(path: Path) -> bool:
    for name in _DELEGATE_XATTRS:
        try:
            if os.getxattr(path, name) == b"1":
                return True
        except OSError:
            continue
    return False
