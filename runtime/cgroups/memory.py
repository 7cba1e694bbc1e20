"""Refuse a configuration whose memory limits cannot all be honoured at once."""

from __future__ import annotations

from collections.abc import Iterable

import psutil  # type: ignore[import-untyped, unused-ignore]

from .procfs import cgroup_mounts, effective_v2_limit, keyed, own_cgroups, parse_limit, under


def check_memory_fits(limits: Iterable[int | None], host_total: int | None = None) -> str | None:
    """An error message if the containers' memory limits add up to more than there is.

    "There is" means host memory, or coserve's own cgroup limit where that is lower; `host_total`
    replaces both (tests). Containers without a limit are not counted: they share what is left."""
    wanted = [value for value in limits if value is not None]
    total = sum(wanted)
    if host_total is not None:
        capacity, where = host_total, "host memory"
    else:
        capacity, where = psutil.virtual_memory().total, "host memory"
        own = own_memory_limit()
        if own is not None and own < capacity:
            capacity, where = own, "the memory limit of coserve's own cgroup"
    if total <= capacity:
        return None
    return (
        f"memory limits of {len(wanted)} containers add up to {total} bytes "
        f"({total / 2**20:.0f} MiB), more than {where}: {capacity} bytes ({capacity / 2**20:.0f} MiB)"
    )


def own_memory_limit() -> int | None:
    """The effective memory limit of the cgroup this process is in; None if there is none."""
    own, mounts = own_cgroups(), cgroup_mounts()
    if "memory" in own and "memory" in mounts.v1:
        stat = under(mounts.v1["memory"], own["memory"]) / "memory.stat"
        try:
            return parse_limit(str(keyed(stat.read_text())["hierarchical_memory_limit"]))
        except (OSError, KeyError):
            return None
    for mount in mounts.v2:
        limit = effective_v2_limit(under(mount, own.get("", "/")), mount)
        if limit is not None:
            return limit
    return None
