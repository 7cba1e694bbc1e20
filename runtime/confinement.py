"""Isolation on this host: a cgroup per container (v2, v1 or none) and a private /opt/ml/model.

Chosen once at start and logged; the supervisor only sees the `Isolation` seam.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from runtime.admission import AdmissionError, Capacity, Ledger, Need, admit
from runtime.cgroups import Backend, Cgroup, CgroupLimits, Stats, cpu_capacity, detect, memory_capacity
from runtime.cgroups.cpuplan import CpuPlanError, CpuPlanItem, plan_cpusets
from runtime.config import ContainerSpec, Deployment
from runtime.mountns import MODEL_TARGET, private_model_mount_supported, wrap_private_model_mount
from runtime.supervisor.isolation import Isolation, Mounts
from runtime.units import format_size

log = logging.getLogger("runtime.confinement")
_NEAR_LIMIT = 2**20  # a peak this close to the limit means the limit was hit (the kernel charges in batches)


class StartupError(SystemExit):
    pass


class CgroupIsolation:
    """Each container in its own cgroup from its first instruction; optionally its own mount view."""

    def __init__(
        self, backend: Backend, private_mounts: bool, ledger: Ledger,
        cpusets: dict[str, tuple[int, ...] | None] | None = None,
    ) -> None:  # fmt: skip
        self.backend = backend
        self.kind = backend.kind
        self.private_mounts = private_mounts
        self.ledger = ledger
        self.cpusets = cpusets or {}  # from cpuplan: only where a container is pinned
        self.groups: dict[str, Cgroup] = {}
        self._oom_seen: dict[str, int] = {}

    def prepare(self, spec: ContainerSpec) -> None:
        lim = spec.limits
        limits = CgroupLimits(
            memory_bytes=lim.memory_bytes, memory_request_bytes=lim.memory_request_bytes,
            oom_score_adj=self.ledger.oom_score_adj(Need.of(spec)),
            cpus=lim.cpus, cpu_weight=lim.cpu_weight, pids=lim.pids,
            cpu_mode=lim.cpu_mode, cpuset=self.cpusets.get(spec.hostname),
        )  # fmt: skip
        group = self.backend.create(spec.hostname, limits)
        self.groups[spec.hostname] = group
        self._oom_seen[spec.hostname] = group.stats().oom_kills

    def model_path(self, model_dir: Path) -> Path:
        return MODEL_TARGET if self.private_mounts else model_dir

    def view(self, host: Path, target: Path) -> Path:
        return target if self.private_mounts else host

    def wrap(self, spec: ContainerSpec, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        private = self.private_mounts and model_dir is not None
        inner = wrap_private_model_mount(argv, model_dir, more=more) if private and model_dir else argv
        return self.groups[spec.hostname].wrap(inner)

    def attach(self, spec: ContainerSpec, pid: int) -> None:
        self.groups[spec.hostname].attach(pid)

    def kill(self, spec: ContainerSpec) -> None:
        self.groups[spec.hostname].kill()

    def exit_note(self, spec: ContainerSpec) -> str | None:
        stats = self.groups[spec.hostname].stats()
        seen, self._oom_seen[spec.hostname] = self._oom_seen[spec.hostname], stats.oom_kills
        if stats.oom_kills <= seen:
            return None
        own, peak = spec.limits.memory_bytes, stats.memory_peak_bytes
        if own is not None and peak is not None and peak < own - _NEAR_LIMIT:
            # It never came near its own limit: limits that overcommit met real pressure from above (a parent's
            # limit or the host's), and the kernel chose it as furthest above its request (runtime.admission).
            request = spec.limits.memory_request_bytes
            return (f"killed by the OOM killer under memory pressure from outside the container, below its "
                    f"own limit ({format_size(own)}; request {format_size(request or 0)})")  # fmt: skip
        limit = stats.memory_limit_bytes
        return f"killed by the OOM killer at {format_size(limit) if limit else 'the host limit'}"

    def stats(self, hostname: str) -> Stats | None:
        group = self.groups.get(hostname)
        return group.stats() if group is not None else None

    def close(self) -> None:
        self.backend.close()


def host_capacity() -> Capacity:
    return Capacity(*memory_capacity(), *cpu_capacity())


def choose_isolation(d: Deployment) -> Isolation:
    """Admit the containers' requests, detect the cgroup backend, and clean what a crashed earlier run left."""
    try:
        ledger = admit(d, host_capacity())
    except AdmissionError as exc:
        raise StartupError(f"coserve: the containers' requests do not fit this host: {exc}") from exc
    log.info("admission: %s", ledger.summary())
    cpusets = _cpusets(d)
    backend = detect("coserve")
    if any(cpusets.values()) and not backend.has_cpuset:
        backend.close()
        raise StartupError(f"coserve: CpuMode: pinned needs cpusets, which the cgroup backend ({backend.kind}) "
                           "cannot set here; use CpuMode: weight or quota")  # fmt: skip
    stale = backend.cleanup_stale()
    if stale:
        log.warning("removed cgroups left by an earlier coserve run: %s", ", ".join(stale))
    return CgroupIsolation(backend, private_model_mount_supported(), ledger, cpusets)


def _cpusets(d: Deployment) -> dict[str, tuple[int, ...] | None]:
    requests = [CpuPlanItem(c.hostname, c.limits.cpu_mode, c.limits.cpus) for c in d.containers]
    try:
        cpusets = plan_cpusets(requests, sorted(os.sched_getaffinity(0)))
    except CpuPlanError as exc:
        raise StartupError(f"coserve: {exc}") from None
    for hostname, cpus in cpusets.items():
        if cpus is not None:
            log.info("%s: cpuset %s", hostname, ",".join(map(str, cpus)))
    return cpusets
