"""The gunicorn worker class for `Server.Workers > 1`: uvicorn's worker with the front door's limits.

gunicorn creates it in its master before forking; it reads the published settings then (not at import), so each
worker's connections get the same ConnectionLimits as the single-process front door.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from uvicorn_worker import UvicornWorker

from runtime import rundir
from runtime.frontdoor.settings import SERVER_OPTIONS, FrontSettings
from runtime.router.protocol import protocol_class


class LimitedWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no type hints
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        s = FrontSettings.read(rundir.RunDir(Path(os.environ[rundir.ENV])).settings)
        self.CONFIG_KWARGS = {"loop": "uvloop", "http": protocol_class(s.limits),
                              "timeout_keep_alive": s.keep_alive_s, **SERVER_OPTIONS}  # fmt: skip
        super().__init__(*args, **kwargs)
