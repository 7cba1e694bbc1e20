"""The container lifecycle as an explicit state machine. No dependencies, so anything may import it.

STOPPED ─► FETCHING ─► STARTING ─► RUNNING
               │           │          │
               ▼           ▼          ▼
             FATAL      EXITED ◄──────┘ ─► BACKOFF ─► STARTING … ─► FATAL after N tries
Any live state ─► STOPPING ─► STOPPED on shutdown; nothing restarts once stopping began.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from runtime.supervisor.keys import ContainerKey

log = logging.getLogger("runtime.supervisor")


class State(enum.Enum):
    STOPPED = "STOPPED"
    FETCHING = "FETCHING"  # the model artifact is being fetched and unpacked
    STARTING = "STARTING"  # spawned; /ping has not answered 200 yet
    RUNNING = "RUNNING"  # the readiness probe passed
    BACKOFF = "BACKOFF"  # exited; waiting before the next start
    STOPPING = "STOPPING"  # asked to stop; waiting for the process group to end
    EXITED = "EXITED"  # the process ended; the supervisor decides what next
    FATAL = "FATAL"  # gave up: too many failed starts, or an artifact that cannot be had


ALLOWED: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.FETCHING, State.STARTING}),
    State.FETCHING: frozenset({State.STARTING, State.FATAL, State.STOPPED}),
    State.STARTING: frozenset({State.RUNNING, State.EXITED, State.STOPPING}),
    State.RUNNING: frozenset({State.EXITED, State.STOPPING}),
    State.EXITED: frozenset({State.BACKOFF, State.FATAL, State.STOPPED}),
    State.BACKOFF: frozenset({State.STARTING, State.STOPPED}),
    State.STOPPING: frozenset({State.STOPPED}),
    State.FATAL: frozenset({State.STOPPED}),
}
LIVE = frozenset({State.STARTING, State.RUNNING, State.STOPPING})


@dataclass(frozen=True)
class Event:
    hostname: str
    old: State
    new: State
    message: str  # the one log line, e.g. "exited: (exit status 1; not expected)"
    at: float
    key: ContainerKey | None = None  # which container of which endpoint and generation (hostnames may repeat)


class InvalidTransition(RuntimeError):
    pass


class Lifecycle:
    """The state of one container; `to()` is the only way it changes."""

    def __init__(self, hostname: str, emit: Callable[[Event], None], key: ContainerKey | None = None) -> None:
        self.hostname = hostname
        self.key = key
        self.state = State.STOPPED
        self.since = 0.0
        self._emit = emit

    def to(self, new: State, message: str, now: float) -> None:
        old = self.state
        if new not in ALLOWED[old]:
            raise InvalidTransition(f"{self.key or self.hostname}: {old.value} -> {new.value} is not allowed")
        self.state, self.since = new, now
        # "<endpoint>/<generation>: 'hostname' OLD -> NEW: why": the hostname as it always was, its set before it.
        where = f"{self.key.endpoint}/{self.key.generation}: " if self.key is not None else ""
        log.info("%s'%s' %s -> %s: %s", where, self.hostname, old.value, new.value, message)
        self._emit(Event(self.hostname, old, new, message, now, self.key))
