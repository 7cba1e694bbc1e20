"""The routing table: the one thing the supervisor and the router share, read-only.

The supervisor publishes a new table on every state change through runtime.published: in one process the
router holds the object; each gunicorn worker follows the file the supervisor replaces atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from runtime.published import Published


@dataclass(frozen=True)
class Route:
    hostname: str
    port: int  # SAGEMAKER_BIND_TO_PORT on 127.0.0.1
    state: str  # a supervisor State's value; only RUNNING takes requests
    log_path: str  # the container's log, reported as LogStreamArn

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


@dataclass(frozen=True)
class RoutingTable:
    endpoint_name: str
    variant_name: str
    mode: str  # Direct | Serial
    routes: tuple[Route, ...]  # in Containers order, which is the Serial chain's order
    version: int = 0

    def route(self, hostname: str) -> Route | None:
        return next((r for r in self.routes if r.hostname == hostname), None)

    def not_running(self) -> list[Route]:
        return [r for r in self.routes if not r.running]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RoutingTable:
        doc = json.loads(text)
        doc["routes"] = tuple(Route(**r) for r in doc["routes"])
        return cls(**doc)


# Where the router gets the current table: the supervisor's own object in one process, else routes.json in the
# run directory (runtime.rundir), which the supervisor replaces atomically (runtime.published).
TableSource = Published[RoutingTable]
