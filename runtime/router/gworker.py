"""The gunicorn worker class for `Server.Workers > 1`: uvicorn's worker with the front door's limits.

gunicorn creates it in its master before forking; it reads the deployment file then (not at import), so each
worker's connections get the same ConnectionLimits as the single-process front door.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from uvicorn_worker import UvicornWorker

from runtime.config import load_deployment
from runtime.router.protocol import protocol_class


class LimitedWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no type hints
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from runtime.frontdoor import SERVER_OPTIONS, connection_limits  # frontdoor imports the router package

        d = load_deployment(Path(os.environ["COSERVE_DEPLOYMENT"]))
        self.CONFIG_KWARGS = {"loop": "uvloop", "http": protocol_class(connection_limits(d)),
                              "timeout_keep_alive": d.server.keep_alive_s, **SERVER_OPTIONS}  # fmt: skip
        super().__init__(*args, **kwargs)
