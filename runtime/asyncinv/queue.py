"""The durable queue of asynchronous requests: one SQLite file (WAL), every change one transaction.

A request is acknowledged (202) only after its row is committed with `synchronous = FULL`, so an accepted
request survives a crash or a power cut. The worker claims rows with a lease; a claim that is never finished
(the process died) is void once the lease runs out, and `recover()` voids them all at once when the one
worker of a state directory starts. Finishing names the claim, so each row is marked done or failed once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime import sqlitefile
from runtime.asyncinv.locations import Locations
from runtime.asyncinv.records import COLUMNS, Backlog, Item, item_of
from runtime.asyncinv.request import AsyncRequest
from runtime.asyncinv.schema import prepare

LEASE_MARGIN_S = 300.0  # beyond InvocationTimeoutSeconds: fetching the input and writing the answer


class AsyncQueue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one connection, shared by the threads calls run in

    def open(self) -> AsyncQueue:
        """Create the queue's tables if absent. To share the control plane's file, open its store first: it refuses
        a new file that already holds tables (runtime.control.schema)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlitefile.connect(self.path)  # synchronous FULL: a 202 means the request is on disk
        prepare(db, str(self.path))
        self._db = db
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            assert self._db is not None, "AsyncQueue.open() first"
            with sqlitefile.transaction(self._db, write) as db:
                yield db

    def enqueue(self, r: AsyncRequest, where: Locations, now: float) -> Locations:
        """Queue `r`; a client retrying an InferenceId still queued or running gets that request's locations
        back and nothing is queued twice. A finished one with the same id is queued afresh (a new request)."""
        headers = json.dumps({"content_type": r.content_type, "accept": r.accept,
                              "custom_attributes": r.custom_attributes})  # fmt: skip
        with self._tx() as db:
            found = db.execute(
                "SELECT state, output_location, failure_location FROM async_invocations "
                "WHERE endpoint = ? AND inference_id = ?", (r.endpoint, r.inference_id),
            ).fetchone()  # fmt: skip
            if found is not None and found[0] in ("queued", "running"):
                return Locations(found[1], found[2])
            db.execute("DELETE FROM async_invocations WHERE endpoint = ? AND inference_id = ?",
                       (r.endpoint, r.inference_id))  # fmt: skip
            db.execute(
                "INSERT INTO async_invocations (endpoint, inference_id, request, body, input_location, "
                "output_location, failure_location, timeout_s, enqueued, expires, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued')",
                (r.endpoint, r.inference_id, headers, r.body, r.input_location, where.output, where.failure,
                 r.timeout_s, now, now + r.ttl_s),
            )  # fmt: skip
        return where

    def recover(self) -> int:
        """Void every claim: the worker that held them is gone. Only the one worker of this file calls it, at start."""
        with self._tx() as db:
            return db.execute(
                "UPDATE async_invocations SET state = 'queued', lease_until = NULL WHERE state = 'running'"
            ).rowcount

    def waiting(self, now: float) -> list[str]:
        """Endpoints with a request ready to be claimed."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT DISTINCT endpoint FROM async_invocations WHERE (state = 'queued' AND not_before <= ?) "
                "OR (state = 'running' AND lease_until <= ?)", (now, now),
            ).fetchall()  # fmt: skip
        return [str(r[0]) for r in rows]

    def claim(self, endpoint: str, limit: int, now: float) -> list[Item]:
        """The endpoint's oldest ready requests, as many as keep at most `limit` in flight."""
        with self._tx() as db:
            busy = db.execute(
                "SELECT count(*) FROM async_invocations WHERE endpoint = ? AND state = 'running' AND lease_until > ?",
                (endpoint, now),
            ).fetchone()[0]  # fmt: skip
            if busy >= limit:
                return []
            ready = db.execute(
                f"SELECT {COLUMNS} FROM async_invocations WHERE endpoint = ? AND ((state = 'queued' AND "
                "not_before <= ?) OR (state = 'running' AND lease_until <= ?)) ORDER BY seq LIMIT ?",
                (endpoint, now, now, limit - busy),
            ).fetchall()  # fmt: skip
            for row in ready:
                db.execute(
                    "UPDATE async_invocations SET state = 'running', attempts = attempts + 1, started = ?, "
                    "lease_until = ? + timeout_s + ? WHERE seq = ?", (now, now, LEASE_MARGIN_S, row[0]),
                )  # fmt: skip
        return [item_of((row[0], row[1] + 1, *row[2:])) for row in ready]

    def finish(self, item: Item, failed: str | None, now: float) -> bool:
        """Mark the claim done (`failed` None) or failed (why): True once; False if the claim was voided."""
        with self._tx() as db:
            return db.execute(
                "UPDATE async_invocations SET state = ?, outcome = ?, finished = ?, lease_until = NULL, "
                "completions = completions + 1 WHERE seq = ? AND state = 'running' AND attempts = ?",
                ("failed" if failed is not None else "done", failed or "", now, item.seq, item.attempt),
            ).rowcount == 1  # fmt: skip

    def release(self, item: Item, not_before: float) -> bool:
        """Back in the queue, in its place, to be claimed again from `not_before` on (a transient failure)."""
        with self._tx() as db:
            return db.execute(
                "UPDATE async_invocations SET state = 'queued', lease_until = NULL, not_before = ? "
                "WHERE seq = ? AND state = 'running' AND attempts = ?", (not_before, item.seq, item.attempt),
            ).rowcount == 1  # fmt: skip

    def backlog(self, now: float) -> dict[str, Backlog]:
        """Per endpoint with work: requests queued or in flight, and the age of the oldest."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT endpoint, count(*), min(enqueued) FROM async_invocations "
                "WHERE state IN ('queued', 'running') GROUP BY endpoint"
            ).fetchall()
        return {str(e): Backlog(int(n), max(0.0, now - float(oldest))) for e, n, oldest in rows}

    def prune(self, before: float) -> int:
        """Forget requests finished before `before` (their answers stay in S3)."""
        with self._tx() as db:
            return db.execute(
                "DELETE FROM async_invocations WHERE state IN ('done', 'failed') AND finished < ?", (before,)
            ).rowcount
