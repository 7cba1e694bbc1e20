"""The reconciler's view of whether the state store answers: `usable(now)` before each tick's store work,
`read` for the tick's read of what is pending, `failed`/`succeeded` after it.

A store that cannot be reached may take a while to say so (SQLite waits about 10 s on a lock it cannot take;
a network store, its timeout), and the reconciler runs on the supervisor's event loop, which also serves
invocations. So the tick's read runs in a thread of the store's own and is given up on after `deadline_s`
(the thread finishes it alone: a read changes nothing); while an outage lasts, a probe (the same read) runs
there after a back-off, and the reconciler touches the store again only once a probe answered. The outage is
logged once when found and once when over. A write can still block the loop: only if the store goes away
between a tick's read and its write.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from runtime.control.state import StateUnavailable

log = logging.getLogger("runtime.control")
RETRY_S = (1.0, 2.0, 4.0, 8.0)  # wait before each probe (then the last, again)
DEADLINE_S = 1.0  # a read here takes milliseconds; a second is an outage, not a slow disk
T = TypeVar("T")


class Outage:
    def __init__(self, probe: Callable[[], object], retry_s: tuple[float, ...] = RETRY_S) -> None:
        self.probe = probe  # a read of the store; raises StateUnavailable while it cannot be reached
        self.retry_s = retry_s
        self.deadline_s = DEADLINE_S
        self.since: float | None = None  # when it was found (tick time); None: the store answers
        self._tries = 0
        self._retry_at = 0.0
        self._last: Future[Any] | None = None  # the last call handed to the thread
        self._probed: Future[object] | None = None
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def usable(self, now: float) -> bool:
        """Whether this tick may call the store (without waiting on a known outage)."""
        if self._last is not None and not self._last.done():
            return False  # a read still waits on the store: one at a time
        if self.since is None or (self._probed is not None and _answered(self._probed)):
            return True
        if now >= self._retry_at:
            self._tries += 1
            self._retry_at = now + self.retry_s[min(self._tries, len(self.retry_s) - 1)]
            self._probed = self._submit(self.probe)
        return False

    def read(self, call: Callable[[], T]) -> T:
        """`call()` in the store's thread; StateUnavailable when it takes more than `deadline_s`."""
        future = self._submit(call)
        try:
            return future.result(timeout=self.deadline_s)
        except TimeoutError:
            raise StateUnavailable(f"no answer within {self.deadline_s:g}s") from None

    def failed(self, exc: StateUnavailable, now: float) -> None:
        if self.since is None:
            self.since, self._tries = now, 0
            log.error("state store unreachable: %s; serving what runs, retrying", exc)
        self._probed = None
        self._retry_at = now + self.retry_s[0]

    def succeeded(self, now: float) -> None:
        if self.since is not None:
            log.warning("state store reachable again after %.1fs", now - self.since)
            self.since, self._probed = None, None

    def _submit(self, call: Callable[[], T]) -> Future[T]:
        if self._thread is None:  # a daemon: a read stuck at exit must not hold the process
            self._thread = threading.Thread(target=self._work, name="state-store", daemon=True)
            self._thread.start()
        future: Future[T] = Future()
        self._jobs.put((future, call))
        self._last = future
        return future

    def _work(self) -> None:
        while True:
            future, call = self._jobs.get()
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to whoever waits; a probe's is read by usable()
                future.set_exception(exc)


def _answered(probe: Future[object]) -> bool:
    """A probe that answered, or failed otherwise than StateUnavailable: the next tick's call says how."""
    return not isinstance(probe.exception(), StateUnavailable)
