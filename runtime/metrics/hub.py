"""The supervisor process's side of metrics, driven by the composition root's tick and events."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import psutil

from runtime.admission import Ledger
from runtime.cgroups import Stats
from runtime.config import Deployment
from runtime.metrics.emf import EmfWriter
from runtime.metrics.http import RouterMetrics
from runtime.metrics.sampler import Sampler
from runtime.metrics.snapshot import SnapshotSource, write_snapshot
from runtime.storage.store import StoreStats
from runtime.supervisor import Event

log = logging.getLogger("runtime.metrics")
SAMPLE_S = 1.0  # CPU and memory are read from the cgroups once a second, not on every 0.1 s tick


def multiproc_dir(d: Deployment) -> Path:
    """PROMETHEUS_MULTIPROC_DIR of the gunicorn workers."""
    return d.server.run_dir / "prometheus"


def snapshot_path(d: Deployment) -> Path:
    return d.server.run_dir / "stats.json"


class MetricsHub:
    def __init__(
        self,
        d: Deployment,
        stats: Callable[[str], Stats | None],
        store_stats: Callable[[], StoreStats],
        ledger: Ledger | None = None,
    ) -> None:
        self.d = d
        self.ledger = ledger
        self.stats = stats
        self.store_stats = store_stats
        self.workers = d.server.workers > 1
        self.snapshots = SnapshotSource()
        self.router = RouterMetrics(d, self.snapshots, multiproc_dir(d) if self.workers else None)
        self.sampler: Sampler | None = None
        self.emf: EmfWriter | None = None
        self._due = 0.0
        self._changed = True

    def prepare(self) -> None:
        """Before any worker starts: an empty multiprocess directory, since prometheus_client sums every file
        in it and a crashed earlier run's files would count again."""
        shutil.rmtree(multiproc_dir(self.d), ignore_errors=True)
        if self.workers:
            multiproc_dir(self.d).mkdir(parents=True)
        self.sampler = Sampler(self.d, self.stats, self.store_stats, psutil.virtual_memory().total, self.ledger)
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
            if self.workers:
                write_snapshot(snap, snapshot_path(self.d))
        if self.emf is not None:
            try:
                self.emf.tick(now, self.snapshots.get())
            except OSError as exc:  # a full disk must not stop the endpoint; the next interval tries again
                log.warning("metrics: EMF lines not written to %s: %s", self.d.metrics.emf_path, exc)

    def close(self, now: float) -> None:
        """Write the last partial EMF interval, then remove the files the workers read."""
        if self.emf is not None and self.sampler is not None:
            try:
                self.emf.flush(self.sampler.sample(now))
            except OSError as exc:
                log.warning("metrics: the last EMF lines were not written: %s", exc)
        snapshot_path(self.d).unlink(missing_ok=True)
        shutil.rmtree(multiproc_dir(self.d), ignore_errors=True)
