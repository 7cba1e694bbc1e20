"""The routing table: the one thing the supervisor and the router share, read-only.

The supervisor publishes a new table on every state change. In one process the router holds the
object; with several router workers it reads the JSON file the supervisor replaces atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path


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


def write_table(table: RoutingTable, path: Path) -> None:
    """Replace the file atomically, so a reader never sees half a table."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(table.to_json())
    tmp.replace(path)


class TableSource:
    """Where the router gets the current table: an in-process holder or a file it re-reads."""

    def __init__(self, table: RoutingTable | None = None, path: Path | None = None) -> None:
        self._table = table
        self._path = path
        self._mtime_ns = -1
        self._checked = 0.0

    def set(self, table: RoutingTable) -> None:
        self._table = table

    def get(self) -> RoutingTable:
        if self._path is not None:
            self._refresh()
        assert self._table is not None, "no routing table published yet"
        return self._table

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < 0.05 and self._table is not None:
            return  # a stat per request is cheap, but not free; 50 ms staleness is harmless
        self._checked = now
        assert self._path is not None
        mtime = self._path.stat().st_mtime_ns
        if mtime != self._mtime_ns:
            self._table = RoutingTable.from_json(self._path.read_text())
            self._mtime_ns = mtime
