"""The reconciler's view of whether the state store answers: `usable(now)` before each tick's store work,
`failed`/`succeeded` after it.

A store that cannot be reached may take a while to say so (SQLite waits about 10 s on a lock it cannot take;
a network store, its timeout), and the reconciler runs on the supervisor's event loop, which also serves
invocations. So only the call that finds an outage blocks the loop: while it lasts, a probe (one read) runs in
a thread of its own, after a back-off, and the reconciler touches the store again only once a probe answered.
The outage is logged once when found and once when over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from runtime.control.state import StateUnavailable

log = logging.getLogger("runtime.control")
RETRY_S = (1.0, 2.0, 4.0, 8.0)  # wait before each probe (then the last, again)


class Outage:
    def __init__(self, probe: Callable[[], object], retry_s: tuple[float, ...] = RETRY_S) -> None:
        self.probe = probe  # a read of the store; raises StateUnavailable while it cannot be reached
        self.retry_s = retry_s
        self.since: float | None = None  # when it was found (tick time); None: the store answers
        self._tries = 0
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        self._answered = threading.Event()

    def usable(self, now: float) -> bool:
        """Whether this tick may call the store (without blocking on a known outage)."""
        if self.since is None or self._answered.is_set():
            return True
        if (self._thread is None or not self._thread.is_alive()) and now >= self._retry_at:
            self._tries += 1
            self._retry_at = now + self.retry_s[min(self._tries, len(self.retry_s) - 1)]
            self._thread = threading.Thread(target=self._probe, name="state-probe", daemon=True)
            self._thread.start()
        return False

    def failed(self, exc: StateUnavailable, now: float) -> None:
        if self.since is None:
            self.since, self._tries = now, 0
            log.error("state store unreachable: %s; serving what runs, retrying", exc)
        self._answered.clear()
        self._retry_at = now + self.retry_s[0]

    def succeeded(self, now: float) -> None:
        if self.since is not None:
            log.warning("state store reachable again after %.1fs", now - self.since)
            self.since = None
            self._answered.clear()

    def _probe(self) -> None:
        try:
            self.probe()
        except StateUnavailable:
            return
        except Exception:  # not an outage the store knows: the next on-loop call will raise it where it belongs
            log.exception("state store probe failed")
        self._answered.set()
