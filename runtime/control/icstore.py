"""Inference components in the state store: the record, and the rows of its table (used through `Tx`).

The API writes a component's desired state (its Specification, CopyCount and the status SageMaker shows while
work is under way) and bumps its generation; the supervisor side (runtime.copies) moves the status on and
writes how many copies run. Each of its writes names the generation it acted on and applies only if no API
call changed the component since, as the endpoints' reconciler does.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

ComponentStatus = Literal["Creating", "Updating", "InService", "Deleting", "Failed"]
_COLUMNS = (
    "name, arn, endpoint, variant, status, failure_reason, created, modified, spec, spec_version, previous, "
    "desired, current, tags, generation"
)
_NAMES = [c.strip() for c in _COLUMNS.split(",")]
_JSON = ("spec", "previous", "tags")


@dataclass(frozen=True)
class Component:
    name: str
    arn: str
    endpoint: str
    variant: str
    status: ComponentStatus
    failure_reason: str | None
    created: float
    modified: float
    spec: dict[str, Any]  # the Specification; with ModelName, "Model" holds that model's CreateModel request
    spec_version: int  # which Specification: the copies of another version are replaced blue/green
    previous: dict[str, Any] | None  # while an update rolls out: the Specification to go back to
    desired: int  # RuntimeConfig.CopyCount
    current: int  # copies RUNNING
    tags: list[dict[str, str]]
    generation: int  # bumped by every API change

    def tag(self, key: str) -> str | None:
        return next((t["Value"] for t in self.tags if t.get("Key") == key), None)


def get(db: sqlite3.Connection, name: str) -> Component | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM components WHERE name = ?", (name,)).fetchone()
    return _record(row) if row else None


def all_(db: sqlite3.Connection) -> list[Component]:
    return [_record(row) for row in db.execute(f"SELECT {_COLUMNS} FROM components ORDER BY created, name")]


def on_endpoint(db: sqlite3.Connection, endpoint: str) -> list[Component]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM components WHERE endpoint = ?", (endpoint,))
    return [_record(row) for row in rows]


def put(db: sqlite3.Connection, c: Component) -> None:
    row = {n: getattr(c, n) for n in _NAMES}
    for n in _JSON:
        row[n] = None if row[n] is None else json.dumps(row[n])
    marks = ", ".join("?" * len(_NAMES))
    db.execute(f"INSERT OR REPLACE INTO components ({_COLUMNS}) VALUES ({marks})", [row[n] for n in _NAMES])


def delete(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("DELETE FROM components WHERE name = ?", (name,)).rowcount > 0


def _record(row: tuple[Any, ...]) -> Component:
    doc = dict(zip(_NAMES, row, strict=True))
    for n in _JSON:
        doc[n] = None if doc[n] is None else json.loads(doc[n])
    return Component(**doc)
