"""The state store: one SQLite file under the state directory, one transaction per API call.

WAL mode, so readers (the API, a reconciler in another process) never wait on a writer; every write runs
in `BEGIN IMMEDIATE ... COMMIT`, so a crash mid-call leaves the state as it was before the call.
The reconciler's interface is `pending()` and the `mark_*`/`forget` methods: each takes the `Work` it was
given and applies only if no API call changed the endpoint since (its generation), else returns False.
It implements `runtime.control.state.StateStore`: sqlite3's errors that mean the file cannot be used now
(locked, unreadable, not a database, disk full or failing) are raised as `StateUnavailable`, the others (bad
SQL, a constraint: bugs) as they are.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from runtime import sqlitefile
from runtime.control.records import WORK_STATUSES, Endpoint, Status, Work
from runtime.control.schema import FILE_NAME, prepare
from runtime.control.state import StateUnavailable
from runtime.control.tx import Tx


class Store:
    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.path = state_dir / FILE_NAME
        self.clock = clock  # epoch seconds; tests pass their own
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one connection, shared by the threads the API runs calls in

    def open(self) -> Store:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _unavailable(self.path):
            db = sqlitefile.connect(self.path)
            prepare(db, str(self.path))
        self._db = db
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        """All or nothing: commits when the block ends, rolls back if it raises. A write transaction takes
        the file's write lock at once (so two writers never deadlock on upgrading); a read one reads a snapshot."""
        with self._lock, _unavailable(self.path):
            assert self._db is not None, "Store.open() first"
            with sqlitefile.transaction(self._db, write) as db:
                yield Tx(db)

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, whatever its status: at start, bring back each one's `running` snapshot."""
        with self.transaction(write=False) as tx:
            return tx.endpoints()

    def endpoint(self, name: str) -> Endpoint | None:
        with self.transaction(write=False) as tx:
            return tx.endpoint(name)

    def pending(self) -> list[Work]:
        """Endpoints that are Creating, Updating or Deleting, oldest change first."""
        found = [e for e in self.endpoints() if e.status in WORK_STATUSES]
        return [
            Work(e.name, e.status, e.running, e.target, e.coserve, e.generation)
            for e in sorted(found, key=lambda e: (e.modified, e.name))
        ]

    def mark_in_service(self, work: Work, reason: str | None = None) -> bool:
        """Creating or Updating succeeded: the target now serves. `reason`: a deployment file's endpoint serves
        on with some containers given up on (Coserve.Server.OnArtifactError: fatal), shown as FailureReason."""
        return self._finish(work, ("Creating", "Updating"), lambda e: replace(
            e, status="InService", running=e.target or e.running, target=None, target_since=None,
            config_name=(e.target or e.running or _never()).config_name, failure_reason=reason,
        ))  # fmt: skip

    def mark_failed(self, work: Work, reason: str) -> bool:
        """Creating failed: nothing serves (the endpoint can only be deleted)."""
        return self._finish(
            work, ("Creating",), lambda e: replace(e, status="Failed", failure_reason=reason, running=None, target=None)
        )

    def mark_update_failed(self, work: Work, reason: str) -> bool:
        """Updating failed: SageMaker's rollback. The old config serves on, InService, with the reason shown."""
        return self._finish(
            work,
            ("Updating",),
            lambda e: replace(e, status="InService", failure_reason=reason, target=None, target_since=None),
        )

    def system_updating(self, name: str, on: bool) -> None:
        """After a restart: an InService endpoint is SystemUpdating until its containers run again (`on` False
        puts it back). Not an API change: the generation stays, so no pending work is made stale."""
        old: Status = "InService" if on else "SystemUpdating"
        new: Status = "SystemUpdating" if on else "InService"
        with self.transaction() as tx:
            e = tx.endpoint(name)
            if e is not None and e.status == old:
                tx.put_endpoint(replace(e, status=new))

    def forget(self, work: Work) -> bool:
        """Deleting is done: nothing of the endpoint runs any more."""
        with self.transaction() as tx:
            e = tx.endpoint(work.name)
            return e is not None and e.generation == work.generation and tx.delete_endpoint(e.name)

    def _finish(self, work: Work, sources: tuple[str, ...], change: Callable[[Endpoint], Endpoint]) -> bool:
        with self.transaction() as tx:
            e = tx.endpoint(work.name)
            if e is None or e.generation != work.generation or e.status not in sources:
                return False
            tx.put_endpoint(replace(change(e), modified=self.clock(), generation=e.generation + 1))
            return True


@contextmanager
def _unavailable(path: Path) -> Iterator[None]:
    """sqlite3's errors that say the file cannot be used now, as StateUnavailable; the others (a constraint, bad
    SQL: bugs, not outages) pass unchanged."""
    try:
        yield
    except sqlite3.Error as exc:
        if not sqlitefile.unusable(exc):
            raise
        raise StateUnavailable(f"{path}: {exc}") from exc


def _never() -> NoReturn:
    raise AssertionError("an endpoint that is Creating or Updating has a target")
