"""The data plane: which process answers the public port (Coserve.Server.DataPlane).

`python` (the default): the Python front door itself. `haproxy`: HAProxy (Debian's package) relays Direct-mode
invocations straight to their container and hands every other request to the Python front door on loopback
(runtime.dataplane.door); Python keeps the control, Serial, auth, streaming and the errors that need a body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from runtime.config import Deployment
from runtime.frontdoor import FrontDoor, FrontSettings
from runtime.metrics import RouterMetrics
from runtime.routing import TableSource
from runtime.rundir import RunDir


class Door(Protocol):
    on_queued: Callable[[], None] | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def in_flight(self, port: int) -> int | None: ...

    def force(self) -> None: ...


def front_door(d: Deployment, settings: FrontSettings, run: RunDir, table: TableSource, host: str, port: int,
               metrics: RouterMetrics) -> Door:  # fmt: skip
    """The front door for `d`'s DataPlane, with FrontDoor's interface."""
    if d.server.data_plane == "haproxy":
        from runtime.dataplane.door import DataPlaneDoor

        return DataPlaneDoor(d, settings, run, table, host, port, metrics)
    return FrontDoor(settings, run, table, host, port, metrics)
