"""The SQLite schema of the state store, versioned by `PRAGMA user_version`.

Names are unique regardless of case (SageMaker lower-cases them in ARNs); each keeps the case it was created
with. Requests and snapshots are JSON text: the store keeps them as the API took them, and only the
operations and the translation to a Deployment read inside them.

Version 2 adds the inference components' table; a version 1 file is migrated in place at open.
"""

from __future__ import annotations

import sqlite3

VERSION = 2
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
# Version 2: inference components (runtime.control.components). Each keeps its resolved Specification.
_COMPONENTS = """
CREATE TABLE IF NOT EXISTS components (  -- IF NOT EXISTS: two processes may migrate at once
    name TEXT PRIMARY KEY COLLATE NOCASE,
    arn TEXT NOT NULL,
    endpoint TEXT NOT NULL COLLATE NOCASE,
    variant TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    spec TEXT NOT NULL,             -- the Specification as JSON, with the named model's request resolved
    spec_version INTEGER NOT NULL,  -- bumped by every UpdateInferenceComponent that changes the Specification
    previous TEXT,                  -- the Specification an update replaces: restored if the update fails
    desired INTEGER NOT NULL,       -- RuntimeConfig.CopyCount
    current INTEGER NOT NULL,       -- copies RUNNING, as the supervisor side last wrote it
    tags TEXT NOT NULL,
    generation INTEGER NOT NULL
);
"""


class SchemaError(RuntimeError):
    """The state file was written by a coserve whose schema this one does not know."""


def prepare(db: sqlite3.Connection, where: str) -> None:
    """Create the schema in a new file, migrate version 1, accept the current version, refuse any other."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == VERSION:
        return
    if version == 1:
        _apply(db, _COMPONENTS)
        return
    tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if version != 0 or tables:
        raise SchemaError(
            f"state store {where} has schema version {version} (tables: {tables}); this coserve reads version "
            f"{VERSION} only. Start the coserve that wrote it, or move the state directory aside."
        )
    _apply(db, _TABLES + ";" + _COMPONENTS)


def _apply(db: sqlite3.Connection, script: str) -> None:
    """Run `script` and set the current version, in one transaction (a crash leaves the old version whole)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        # One statement at a time: executescript() would commit the open transaction first.
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
