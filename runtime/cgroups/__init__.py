"""Per-container cgroups: limits, stats, kill and cleanup, behind one interface.

`detect()` picks cgroup v2 (plain files), v1 (cgroupspy) or none (nothing enforced, a WARNING,
stats from the process tree). The supervisor spawns `cgroup.wrap(argv)` with
`start_new_session=True` and calls `cgroup.attach(pid)` with the pid it got.
"""

from .api import Backend, Cgroup, CgroupLimits, Stats
from .detect import detect
from .memory import cpu_capacity, memory_capacity

__all__ = ["Backend", "Cgroup", "CgroupLimits", "Stats", "cpu_capacity", "detect", "memory_capacity"]
