"""The SQLite schema of the state store, versioned by `PRAGMA user_version`.

Names are unique regardless of case (SageMaker lower-cases them in ARNs); each keeps the case it was created
with. Requests and snapshots are JSON text: the store keeps them as the API took them, and only the
operations and the translation to a Deployment read inside them.
"""

from __future__ import annotations

import sqlite3

VERSION = 1
FILE_NAME = "coserve.db"

_TABLES = """
CREATE TABLE resources (
    kind TEXT NOT NULL,             -- model | endpoint-config
    name TEXT NOT NULL COLLATE NOCASE,
    arn TEXT NOT NULL,
    created REAL NOT NULL,          -- epoch seconds
    request TEXT NOT NULL,          -- the Create request as JSON, without Tags
    tags TEXT NOT NULL,             -- JSON list of {Key, Value}
    PRIMARY KEY (kind, name)
);
CREATE TABLE endpoints (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    arn TEXT NOT NULL,
    config_name TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    running TEXT,                   -- Snapshot JSON: what serves now
    target TEXT,                    -- Snapshot JSON: what Creating/Updating moves to
    target_since REAL,
    coserve TEXT,                   -- the Coserve section (JSON) or NULL
    tags TEXT NOT NULL,
    generation INTEGER NOT NULL
);
"""


class SchemaError(RuntimeError):
    """The state file was written by a coserve whose schema this one does not know."""


def prepare(db: sqlite3.Connection, where: str) -> None:
    """Create the schema in a new file, accept the current version, refuse any other."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == VERSION:
        return
    tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if version != 0 or tables:
        raise SchemaError(
            f"state store {where} has schema version {version} (tables: {tables}); this coserve reads version "
            f"{VERSION} only. Start the coserve that wrote it, or move the state directory aside."
        )
    db.execute("BEGIN IMMEDIATE")
    try:
        # One statement at a time: executescript() would commit the open transaction first.
        for statement in filter(str.strip, _TABLES.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
