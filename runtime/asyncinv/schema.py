"""The queue's SQLite tables, versioned in a table of their own (so they can share a file with other state).

One row per accepted request, kept after it finishes (for a while: the worker prunes) so that a client retrying
the same InferenceId is answered with the request it already queued instead of queuing it twice.
"""

from __future__ import annotations

import sqlite3

VERSION = 1
# The file when the queue has one of its own; beside the control plane, it shares the control plane's file.
FILE_NAME = "async-invocations.db"

_TABLES = """
CREATE TABLE IF NOT EXISTS asyncinv_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS async_invocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- arrival order: each endpoint's queue is served in it
    endpoint TEXT NOT NULL COLLATE NOCASE,
    inference_id TEXT NOT NULL,
    request TEXT NOT NULL,                   -- the request's headers as JSON (content type, accept, ...)
    body BLOB,                               -- an inline payload (NULL when it is at input_location)
    input_location TEXT,
    output_location TEXT NOT NULL,
    failure_location TEXT NOT NULL,
    timeout_s REAL NOT NULL,                 -- InvocationTimeoutSeconds
    enqueued REAL NOT NULL,                  -- epoch seconds
    expires REAL NOT NULL,                   -- enqueued + RequestTTLSeconds
    state TEXT NOT NULL,                     -- queued | running | done | failed
    not_before REAL NOT NULL DEFAULT 0,      -- a retry's backoff
    lease_until REAL,                        -- while running: after this, the claim is void and it runs again
    attempts INTEGER NOT NULL DEFAULT 0,     -- claims so far: a finish names its claim, so only the holder counts
    started REAL,
    finished REAL,
    completions INTEGER NOT NULL DEFAULT 0,  -- times it was marked done or failed: 1, or the queue is broken
    outcome TEXT,                            -- why it failed ("" when done)
    UNIQUE (endpoint, inference_id)
);
CREATE INDEX IF NOT EXISTS async_invocations_by_state ON async_invocations (state, endpoint, seq)
"""


class SchemaError(RuntimeError):
    """The queue's tables were written by a coserve whose schema this one does not know."""


def prepare(db: sqlite3.Connection, where: str) -> None:
    """Create the tables if absent (one transaction), accept this version, refuse any other."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in filter(str.strip, _TABLES.split(";")):
            db.execute(statement)
        found = [row[0] for row in db.execute("SELECT version FROM asyncinv_schema")]
        if not found:
            db.execute("INSERT INTO asyncinv_schema (version) VALUES (?)", (VERSION,))
        elif found != [VERSION]:
            raise SchemaError(
                f"asynchronous-inference queue in {where} has schema version {found}; this coserve reads "
                f"version {VERSION} only. Start the coserve that wrote it, or move the file aside."
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
