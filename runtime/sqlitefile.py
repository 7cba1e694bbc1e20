"""One SQLite file that several processes share (the control plane's state, the async queue): the connection
settings every user of it takes, its transactions, and which of its errors mean it cannot be used now. No
knowledge of what the tables hold."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_S = 10.0  # how long a call waits for another process's write lock before it fails
# SQLite's result codes (the primary ones) that say the file cannot be used now, whatever the call: locked,
# unreadable, corrupt or not a database, disk full or failing. SQLITE_ERROR (bad SQL, a missing table) is a bug.
_OUTAGES = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_NOLFS,
})  # fmt: skip


def connect(path: Path) -> sqlite3.Connection:
    """WAL (readers never wait on the writer), synchronous FULL (an acknowledged write survives a power cut, not only
    a crash); one connection shared by the threads its owner runs calls in, under the owner's own lock."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def unusable(exc: BaseException) -> bool:
    """Whether `exc` is sqlite3's error for a file that cannot be used now (an outage), not a bug (bad SQL, a
    constraint)."""
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in _OUTAGES


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
