"""The ASGI app a gunicorn worker imports: rebuilt from the deployment file, following the table file."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.config import load_deployment
from runtime.frontdoor import router_settings
from runtime.metrics import RouterMetrics, SnapshotSource, snapshot_path
from runtime.router import Router, build_app, memory
from runtime.router.guard import make_guard, make_page_guard
from runtime.routing import TableSource

_deployment = load_deployment(Path(os.environ["COSERVE_DEPLOYMENT"]))
# prometheus_client read PROMETHEUS_MULTIPROC_DIR when imported: this worker's counts go to files there.
_metrics = RouterMetrics(
    _deployment, SnapshotSource(path=snapshot_path(_deployment)), Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
)
_requests = _metrics.start()
app = build_app(
    Router(
        TableSource(path=Path(os.environ["COSERVE_ROUTES"])),
        router_settings(_deployment),
        make_guard(_deployment),
        _requests.observe,
    ),
    _metrics.routes(make_page_guard(_deployment)),
    _requests,
)
memory.settle_heap()  # this worker's start-up is over once its app exists
