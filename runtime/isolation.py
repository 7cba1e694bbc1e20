"""Isolation on this host: a cgroup per container (v2, v1 or none) and a private /opt/ml/model.

Chosen once at start and logged; the supervisor only sees the `Isolation` seam.
"""

from __future__ import annotations

import logging
from pathlib import Path

from runtime.cgroups import Backend, Cgroup, Limits, Stats, check_memory_fits, detect
from runtime.config import ContainerSpec, Deployment
from runtime.mountns import MODEL_TARGET, private_model_mount_supported, wrap_private_model_mount
from runtime.supervisor.isolation import Isolation
from runtime.units import format_size

log = logging.getLogger("runtime.isolation")


class StartupError(SystemExit):
    pass


class CgroupIsolation:
    """Each container in its own cgroup from its first instruction; optionally its own mount view."""

    def __init__(self, backend: Backend, private_mounts: bool) -> None:
        self.backend = backend
        self.kind = backend.kind
        self.private_mounts = private_mounts
        self.groups: dict[str, Cgroup] = {}
        self._oom_seen: dict[str, int] = {}

    def prepare(self, spec: ContainerSpec) -> None:
        lim = spec.limits
        group = self.backend.create(spec.hostname, Limits(lim.memory_bytes, lim.cpus, lim.cpu_weight, lim.pids))
        self.groups[spec.hostname] = group
        self._oom_seen[spec.hostname] = group.stats().oom_kills

    def model_path(self, model_dir: Path) -> Path:
        return MODEL_TARGET if self.private_mounts else model_dir

    def wrap(self, spec: ContainerSpec, argv: list[str], model_dir: Path | None) -> list[str]:
        inner = wrap_private_model_mount(argv, model_dir) if self.private_mounts and model_dir else argv
        return self.groups[spec.hostname].wrap(inner)

    def attach(self, spec: ContainerSpec, pid: int) -> None:
        self.groups[spec.hostname].attach(pid)

    def kill(self, spec: ContainerSpec) -> None:
        self.groups[spec.hostname].kill()

    def exit_note(self, spec: ContainerSpec) -> str | None:
        stats = self.groups[spec.hostname].stats()
        seen, self._oom_seen[spec.hostname] = self._oom_seen[spec.hostname], stats.oom_kills
        if stats.oom_kills > seen:
            limit = stats.memory_limit_bytes
            return f"killed by the OOM killer at {format_size(limit) if limit else 'the host limit'}"
        return None

    def stats(self, hostname: str) -> Stats | None:
        group = self.groups.get(hostname)
        return group.stats() if group is not None else None

    def close(self) -> None:
        self.backend.close()


def choose_isolation(d: Deployment) -> Isolation:
    """Detect the cgroup backend, clean what a crashed earlier run left, and check memory fits."""
    problem = check_memory_fits([c.limits.memory_bytes for c in d.containers])
    if problem is not None:
        raise StartupError(f"coserve: Coserve memory limits do not fit this host: {problem}")
    backend = detect("coserve")
    stale = backend.cleanup_stale()
    if stale:
        log.warning("removed cgroups left by an earlier coserve run: %s", ", ".join(stale))
    return CgroupIsolation(backend, private_model_mount_supported())
