"""The data plane: which process answers the public port (Coserve.Server.DataPlane).

`python` (the default): the Python front door itself. `haproxy`: HAProxy (Debian's package) relays Direct-mode
invocations straight to their container and hands every other request to the Python front door on loopback
(runtime.dataplane.door); Python keeps the control, Serial, auth, streaming and the errors that need a body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from runtime.config import Deployment
from runtime.frontdoor import FrontDoor
from runtime.metrics import RouterMetrics
from runtime.routing import TableSource


class Door(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def front_door(d: Deployment, source: TableSource, table_path: Path, host: str, port: int,
               metrics: RouterMetrics) -> Door:  # fmt: skip
    """The front door for `d`'s DataPlane, with FrontDoor's start() and stop()."""
    if d.server.data_plane == "haproxy":
        from runtime.dataplane.door import DataPlaneDoor

        return DataPlaneDoor(d, source, table_path, host, port, metrics)
    return FrontDoor(d, source, table_path, host, port, metrics)
