"""Reads and writes inside one store transaction: rows in, records out."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from runtime.control import icstore
from runtime.control.icstore import Component
from runtime.control.records import Endpoint, Kind, Resource, Snapshot

_ENDPOINT_COLUMNS = (
    "name, arn, config_name, status, failure_reason, created, modified, running, target, target_since, coserve, "
    "tags, generation"
)


class Tx:
    """One open transaction (see `Store.transaction`); valid only inside its `with` block."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def resource(self, kind: Kind, name: str) -> Resource | None:
        row = self.db.execute(
            "SELECT name, arn, created, request, tags FROM resources WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        return _resource(row) if row else None

    def resources(self, kind: Kind) -> list[Resource]:
        rows = self.db.execute("SELECT name, arn, created, request, tags FROM resources WHERE kind = ?", (kind,))
        return [_resource(row) for row in rows]

    def count(self, kind: Kind) -> int:
        return int(self.db.execute("SELECT count(*) FROM resources WHERE kind = ?", (kind,)).fetchone()[0])

    def add_resource(self, kind: Kind, r: Resource) -> None:
        self.db.execute(
            "INSERT INTO resources (kind, name, arn, created, request, tags) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, r.name, r.arn, r.created, json.dumps(r.request), json.dumps(r.tags)),
        )

    def delete_resource(self, kind: Kind, name: str) -> bool:
        return self.db.execute("DELETE FROM resources WHERE kind = ? AND name = ?", (kind, name)).rowcount > 0

    def endpoint(self, name: str) -> Endpoint | None:
        row = self.db.execute(f"SELECT {_ENDPOINT_COLUMNS} FROM endpoints WHERE name = ?", (name,)).fetchone()
        return _endpoint(row) if row else None

    def endpoints(self) -> list[Endpoint]:
        return [_endpoint(row) for row in self.db.execute(f"SELECT {_ENDPOINT_COLUMNS} FROM endpoints")]

    def count_endpoints(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM endpoints").fetchone()[0])

    def put_endpoint(self, e: Endpoint) -> None:
        """Insert or replace the whole row (an endpoint is small; one write keeps every change atomic)."""
        row = {name: getattr(e, name) for name in Endpoint.__dataclass_fields__}
        row.update(
            running=_snapshot_text(e.running),
            target=_snapshot_text(e.target),
            coserve=None if e.coserve is None else json.dumps(e.coserve),
            tags=json.dumps(e.tags),
        )
        names = [c.strip() for c in _ENDPOINT_COLUMNS.split(",")]
        self.db.execute(
            f"INSERT OR REPLACE INTO endpoints ({_ENDPOINT_COLUMNS}) VALUES ({', '.join('?' * len(names))})",
            [row[n] for n in names],
        )

    def delete_endpoint(self, name: str) -> bool:
        return self.db.execute("DELETE FROM endpoints WHERE name = ?", (name,)).rowcount > 0

    # Inference components (runtime.control.icstore holds their rows).
    def component(self, name: str) -> Component | None:
        return icstore.get(self.db, name)

    def components(self, endpoint: str | None = None) -> list[Component]:
        return icstore.all_(self.db) if endpoint is None else icstore.on_endpoint(self.db, endpoint)

    def put_component(self, c: Component) -> None:
        icstore.put(self.db, c)

    def delete_component(self, name: str) -> bool:
        return icstore.delete(self.db, name)


def _resource(row: tuple[Any, ...]) -> Resource:
    name, arn, created, request, tags = row
    return Resource(name, arn, created, json.loads(request), json.loads(tags))


def _endpoint(row: tuple[Any, ...]) -> Endpoint:
    name, arn, config, status, reason, created, modified, running, target, since, coserve, tags, gen = row
    return Endpoint(
        name=name, arn=arn, config_name=config, status=status, failure_reason=reason, created=created,
        modified=modified, running=_snapshot(running), target=_snapshot(target), target_since=since,
        coserve=None if coserve is None else json.loads(coserve), tags=json.loads(tags), generation=gen,
    )  # fmt: skip


def _snapshot(text: str | None) -> Snapshot | None:
    return None if text is None else Snapshot.from_json(json.loads(text))


def _snapshot_text(s: Snapshot | None) -> str | None:
    return None if s is None else json.dumps(s.to_json())
