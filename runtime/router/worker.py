"""The ASGI app a gunicorn worker imports: rebuilt from the deployment file, following the table file."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.config import load_deployment
from runtime.frontdoor import router_settings
from runtime.router import Router, build_app
from runtime.router.guard import make_guard
from runtime.routing import TableSource

_deployment = load_deployment(Path(os.environ["COSERVE_DEPLOYMENT"]))
app = build_app(
    Router(
        TableSource(path=Path(os.environ["COSERVE_ROUTES"])),
        router_settings(_deployment),
        make_guard(_deployment),
    )
)
