"""The supervisor process's side of metrics, driven by the composition root's tick and events.

What it samples is given as callables read on each sample (`members`: what is supervised now, `ledger`:
admission's figures now), so endpoints created, updated and deleted at run time show as they run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import psutil

from runtime.admission import Ledger
from runtime.cgroups import Stats
from runtime.config import Deployment
from runtime.metrics.emf import EmfWriter
from runtime.metrics.http import RouterMetrics
from runtime.metrics.labels import EndpointLabels
from runtime.metrics.members import Member
from runtime.metrics.sampler import Sampler
from runtime.metrics.snapshot import SnapshotSource
from runtime.rundir import RunDir
from runtime.storage.store import StoreStats
from runtime.supervisor import Event
from runtime.supervisor.keys import ContainerKey

log = logging.getLogger("runtime.metrics")
SAMPLE_S = 1.0  # CPU and memory are read from the cgroups once a second, not on every 0.1 s tick


class MetricsHub:
    def __init__(
        self,
        d: Deployment,
        run_dir: RunDir,
        members: Callable[[], Sequence[Member]],
        stats: Callable[[ContainerKey], Stats | None],
        store_stats: Callable[[], StoreStats],
        ledger: Callable[[], Ledger | None] = lambda: None,
    ) -> None:
        self.d = d
        self.members = members
        self.ledger = ledger
        self.stats = stats
        self.store_stats = store_stats
        self.workers = d.server.workers > 1
        # With workers, each sample is also written where they follow it.
        self.snapshots: SnapshotSource = SnapshotSource.writing(run_dir.stats) if self.workers else SnapshotSource()
        self.router = RouterMetrics(EndpointLabels.of(d), self.snapshots, run_dir.prometheus if self.workers else None)
        self.sampler: Sampler | None = None
        self.emf: EmfWriter | None = None
        self._due = 0.0
        self._changed = True

    def prepare(self) -> None:
        """Before the front door starts (the run directory, runtime.rundir, is the composition root's to create)."""
        self.sampler = Sampler(self.members, self.stats, self.store_stats, psutil.virtual_memory().total,
                               self.d.storage.cache_dir, self.ledger)  # fmt: skip
        if self.d.metrics.emf_path is not None:
            self.emf = EmfWriter(self.d.metrics, self.router.request_families)
            log.info("metrics: EMF every %gs to %s", self.d.metrics.emf_interval_s, self.d.metrics.emf_path)

    def on_event(self, event: Event) -> None:
        if self.sampler is not None:
            self.sampler.on_event(event)
            self._changed = True  # a state change shows in /metrics on this tick, not up to a second later

    def tick(self, now: float) -> None:
        if self.sampler is None:
            return
        if now >= self._due or self._changed:
            self._due, self._changed = now + SAMPLE_S if now >= self._due else self._due, False
            snap = self.sampler.sample(now)
            self.snapshots.set(snap)
        if self.emf is not None:
            try:
                self.emf.tick(now, self.snapshots.latest())
            except OSError as exc:  # a full disk must not stop the endpoint; the next interval tries again
                log.warning("metrics: EMF lines not written to %s: %s", self.d.metrics.emf_path, exc)

    def close(self, now: float) -> None:
        """Write the last partial EMF interval (the run directory's files are removed by its owner)."""
        if self.emf is not None and self.sampler is not None:
            try:
                self.emf.flush(self.sampler.sample(now))
            except OSError as exc:
                log.warning("metrics: the last EMF lines were not written: %s", exc)
