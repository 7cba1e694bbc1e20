"""What a gunicorn worker runs (`runtime.frontdoor.worker:create_app()`): the front door's app, built from the
files the supervisor published in the run directory, following its routing table and its stats."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp

from runtime import rundir
from runtime.frontdoor.app import build_front_app
from runtime.frontdoor.settings import FrontSettings
from runtime.metrics import RouterMetrics, Snapshot, SnapshotSource
from runtime.router import memory
from runtime.routing import HostTable, TableSource


def create_app() -> ASGIApp:
    run = rundir.RunDir(Path(os.environ[rundir.ENV]))
    settings = FrontSettings.read(run.settings)
    # prometheus_client read PROMETHEUS_MULTIPROC_DIR (the run directory's folder) when imported: this worker's
    # counts go to files there, and /metrics sums every worker's.
    metrics = RouterMetrics(settings.labels, SnapshotSource.following(run.stats, Snapshot.from_json), run.prometheus)
    app = build_front_app(settings, TableSource.following(run.routes, HostTable.from_json), metrics)
    memory.settle_heap()  # this worker's start-up is over once its app exists
    return app
