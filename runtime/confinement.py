"""Isolation on this host: a cgroup per container (v2, v1 or none) and a private /opt/ml/model.

Chosen once at start and logged; the supervisor only sees the `Isolation` seam.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from runtime.admission import AdmissionError, Capacity, Ledger, Need, admit
from runtime.cgroups import Backend, Cgroup, Stats, cpu_capacity, detect, memory_capacity
from runtime.cgroups.cpuplan import CpuPlanError, CpuPlanItem, plan_cpusets
from runtime.config import Deployment
from runtime.mountns import MODEL_TARGET, private_model_mount_supported, wrap_private_model_mount
from runtime.supervisor.isolation import Isolation, Mounts
from runtime.supervisor.units import Unit
from runtime.units import format_size

log = logging.getLogger("runtime.confinement")
_NEAR_LIMIT = 2**20  # a peak this close to the limit means the limit was hit (the kernel charges in batches)


class StartupError(SystemExit):
    pass


class CgroupIsolation:
    """Each container in its own cgroup from its first instruction; optionally its own mount view.

    Keyed by each unit's ContainerKey name: containers are admitted and given a cgroup as they are added,
    and give both back when they are released."""

    def __init__(
        self, backend: Backend, private_mounts: bool, ledger: Ledger,
        cpusets: dict[str, tuple[int, ...] | None] | None = None, cores: Sequence[int] = (),
    ) -> None:  # fmt: skip
        self.backend = backend
        self.kind = backend.kind
        self.private_mounts = private_mounts
        self.ledger = ledger
        self.cpusets = cpusets or {}  # by key name, from cpuplan: planned at start for the deployment file
        self.cores = tuple(cores)  # what coserve may run on (for the cpuset of containers added later)
        self.groups: dict[str, Cgroup] = {}
        self._oom_seen: dict[str, int] = {}

    def admit(self, units: Sequence[Unit]) -> None:
        for u in units:
            if u.spec.limits.cpu_mode == "pinned" and u.key.name not in self.cpusets:
                raise AdmissionError(f"{u.key}: CpuMode: pinned is planned at start, for the deployment file's "
                                     "containers only; use CpuMode: weight or quota")  # fmt: skip
        self.ledger = self.ledger.admitted(Need.of(u.spec, u.key.name) for u in units)

    def prepare(self, unit: Unit) -> None:
        name = unit.key.name
        limits = replace(unit.spec.limits, oom_score_adj=self.ledger.oom_score_adj(Need.of(unit.spec, name)),
                         cpuset=self.cpusets[name] if name in self.cpusets else self._unpinned())  # fmt: skip
        group = self.backend.create(name, limits)
        self.groups[name] = group
        self._oom_seen[name] = group.stats().oom_kills

    def _unpinned(self) -> tuple[int, ...] | None:
        """A container added at run time shares the cores that no pinned container holds."""
        pinned = {cpu for cpus in self.cpusets.values() if cpus is not None for cpu in cpus}
        shared = [cpus for cpus in self.cpusets.values() if cpus is not None]
        if not shared:
            return None
        rest = tuple(sorted(set(self.cores) - pinned))
        return rest or None

    def model_path(self, model_dir: Path) -> Path:
        return MODEL_TARGET if self.private_mounts else model_dir

    def view(self, host: Path, target: Path) -> Path:
        return target if self.private_mounts else host

    def wrap(self, unit: Unit, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        private = self.private_mounts and model_dir is not None
        inner = wrap_private_model_mount(argv, model_dir, more=more) if private and model_dir else argv
        return self.groups[unit.key.name].wrap(inner)

    def attach(self, unit: Unit, pid: int) -> None:
        self.groups[unit.key.name].attach(pid)

    def kill(self, unit: Unit) -> None:
        self.groups[unit.key.name].kill()

    def exit_note(self, unit: Unit) -> str | None:
        spec, name = unit.spec, unit.key.name
        stats = self.groups[name].stats()
        seen, self._oom_seen[name] = self._oom_seen[name], stats.oom_kills
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

    def stats(self, name: str) -> Stats | None:
        """By the unit's key name (ContainerKey.name)."""
        group = self.groups.get(name)
        return group.stats() if group is not None else None

    def release(self, unit: Unit) -> None:
        name = unit.key.name
        group = self.groups.pop(name, None)
        self._oom_seen.pop(name, None)
        if group is not None:
            group.kill()
            group.remove()
        self.ledger = self.ledger.released({name})

    def close(self) -> None:
        self.backend.close()


def host_capacity() -> Capacity:
    return Capacity(*memory_capacity(), *cpu_capacity())


def choose_isolation(d: Deployment, units: Sequence[Unit]) -> Isolation:
    """Admit the file's containers (`units`, its first generation), detect the cgroup backend, and clean what a
    crashed earlier run left. Containers added later are admitted as they come (CgroupIsolation.admit)."""
    keys = [u.key.name for u in units]
    try:
        ledger = admit(d, host_capacity(), keys)
    except AdmissionError as exc:
        raise StartupError(f"coserve: the containers' requests do not fit this host: {exc}") from exc
    log.info("admission: %s", ledger.summary())
    cpusets = _cpusets(d, keys)
    backend = detect("coserve")
    if any(cpusets.values()) and not backend.has_cpuset:
        backend.close()
        raise StartupError(f"coserve: CpuMode: pinned needs cpusets, which the cgroup backend ({backend.kind}) "
                           "cannot set here; use CpuMode: weight or quota")  # fmt: skip
    stale = backend.cleanup_stale()
    if stale:
        log.warning("removed cgroups left by an earlier coserve run: %s", ", ".join(stale))
    cores = sorted(os.sched_getaffinity(0))
    return CgroupIsolation(backend, private_model_mount_supported(), ledger, cpusets, cores)


def _cpusets(d: Deployment, keys: Sequence[str]) -> dict[str, tuple[int, ...] | None]:
    """By key name: the plan is made by hostname, which is unique within the file."""
    requests = [CpuPlanItem(c.hostname, c.limits.cpu_mode, c.limits.cpus) for c in d.containers]
    try:
        cpusets = plan_cpusets(requests, sorted(os.sched_getaffinity(0)))
    except CpuPlanError as exc:
        raise StartupError(f"coserve: {exc}") from None
    for hostname, cpus in cpusets.items():
        if cpus is not None:
            log.info("%s: cpuset %s", hostname, ",".join(map(str, cpus)))
    return {key: cpusets[c.hostname] for key, c in zip(keys, d.containers, strict=True)}
