"""The run directory (Coserve.Server.RunDir): every file the supervisor process publishes for its router
workers, named here and nowhere else, created before the workers start and removed at shutdown.

- routes.json: the routing table (runtime.routing), rewritten on every change;
- stats.json: the metrics snapshot (runtime.metrics.snapshot), once a second with workers;
- frontdoor.json: the front door's resolved settings (runtime.frontdoor.settings), auth secrets included, 0600;
- prometheus/: PROMETHEUS_MULTIPROC_DIR, the workers' request counts (prometheus_client's files); only with workers.
A worker learns the directory from one environment variable, ENV, and reads only these.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

ENV = "COSERVE_RUN_DIR"
SECRET_MODE = 0o600  # the settings file holds principals' secrets


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def routes(self) -> Path:
        return self.root / "routes.json"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def settings(self) -> Path:
        return self.root / "frontdoor.json"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    def create(self, workers: bool) -> None:
        """The folder; and, for gunicorn workers only, an empty multiprocess folder: prometheus_client sums every
        file in it, and a crashed earlier run's files would count again."""
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.prometheus, ignore_errors=True)
        if workers:
            self.prometheus.mkdir()

    def clean(self) -> None:
        for path in (self.routes, self.stats, self.settings):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.prometheus, ignore_errors=True)
