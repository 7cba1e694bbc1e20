"""Where this process's cgroups are: /proc/self/cgroup and the cgroup mounts."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

UNLIMITED = 2**62
"""v1 reports "no limit" as a huge page-rounded number; anything above this is unlimited."""


@dataclass(frozen=True)
class Mounts:
    v1: dict[str, Path] = field(default_factory=dict)
    """Controller name → mount point of the v1 hierarchy that carries it."""
    v2: list[Path] = field(default_factory=list)
    """cgroup2 mount points (on hybrid hosts these may carry no controllers)."""


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """Controller → this process's cgroup path in it; the key "" is the cgroup2 entry."""
    if text is None:
        text = Path("/proc/self/cgroup").read_text()
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path
    return own


def cgroup_mounts(text: str | None = None) -> Mounts:
    if text is None:
        text = Path("/proc/self/mounts").read_text()
    mounts = Mounts()
    for line in text.splitlines():
        _, point, fstype, options, *_ = line.split()
        if fstype == "cgroup2":
            mounts.v2.append(Path(point))
        elif fstype == "cgroup":
            for option in options.split(","):
                mounts.v1.setdefault(option, Path(point))
    return mounts


def controllers(cgroup: Path) -> set[str]:
    """The v2 controllers available in `cgroup` (empty if it is not a v2 cgroup)."""
    try:
        return set((cgroup / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def under(mount: Path, path: str) -> Path:
    """The directory of cgroup `path` (as /proc/self/cgroup writes it) below `mount`."""
    return mount / path.lstrip("/")


def parse_limit(text: str) -> int | None:
    """ "max" (v2) or a v1 sentinel mean no limit."""
    text = text.strip()
    if text == "max":
        return None
    value = int(text)
    return None if value >= UNLIMITED else value


def keyed(text: str) -> dict[str, int]:
    """Parse "key value" lines (memory.events, cpu.stat, memory.stat, memory.oom_control)."""
    pairs = (line.split() for line in text.splitlines())
    return {words[0]: int(words[1]) for words in pairs if len(words) == 2}


def effective_v2_limit(cgroup: Path, mount: Path) -> int | None:
    """The lowest `memory.max` from `cgroup` up to the mount: ancestors cap their children."""
    limits = []
    for path in [cgroup, *cgroup.parents]:
        if path != mount and not path.is_relative_to(mount):
            break
        with contextlib.suppress(FileNotFoundError):
            limits.append(parse_limit((path / "memory.max").read_text()))
    finite = [value for value in limits if value is not None]
    return min(finite) if finite else None
