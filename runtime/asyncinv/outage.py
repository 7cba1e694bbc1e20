"""The async worker's view of an outage of the state file: logged once when found and once when over, not on every
poll (the reconciler does the same for its ticks, runtime.control.outage).

The worker meets an outage two ways: the control plane's store refuses a lookup (`StateUnavailable`), or the
queue's own tables, in the same file but not behind that interface, fail with an SQLite error that means the
file cannot be used now (runtime.sqlitefile.unusable). Anything else is a bug, and keeps its traceback.
"""

from __future__ import annotations

import logging

from runtime import sqlitefile
from runtime.control.state import StateUnavailable

log = logging.getLogger("runtime.asyncinv")


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, StateUnavailable) or sqlitefile.unusable(exc)


class OutageLog:
    def __init__(self) -> None:
        self.since: float | None = None  # when the outage was found; None: the store answers

    def passed(self, outage: BaseException | None, now: float) -> None:
        """After each pass of the worker: the outage it met, or None when every call it made answered."""
        if outage is not None and self.since is None:
            self.since = now
            log.warning("async: the state store is unavailable (%s); queued requests wait until it answers", outage)
        elif outage is None and self.since is not None:
            log.info("async: the state store answers again after %.1fs; queued requests go on", now - self.since)
            self.since = None
