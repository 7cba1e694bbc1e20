"""One SQLite file that several processes share (the control plane's state, the async queue): the connection
settings every user of it takes, and its transactions. No knowledge of what the tables hold."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_S = 10.0  # how long a call waits for another process's write lock before it fails


def connect(path: Path) -> sqlite3.Connection:
    """WAL (readers never wait on the writer), synchronous FULL (an acknowledged write survives a power cut, not only
    a crash); one connection shared by the threads its owner runs calls in, under the owner's own lock."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, write: bool = True) -> Iterator[sqlite3.Connection]:
    """All or nothing: commits when the block ends, rolls back if it raises. A write takes the file's write lock at
    once (two writers never deadlock upgrading a read lock); a read takes a snapshot and never waits on a writer."""
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed statement may have rolled it back already
            with contextlib.suppress(sqlite3.Error):  # the file may be gone: the first error is what counts
                db.execute("ROLLBACK")
        raise
