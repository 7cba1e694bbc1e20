"""The state store's interface: what the operations, the reconciler and the front door use of the desired state.

`runtime.control.store.Store` (one SQLite file under `--state-dir`) implements it for one host; that is the
only implementation. Every process of a host opens its own: the API in each router process writes, the
supervisor's reconciler reads what is pending and records the outcome.

For many hosts (on paper, not built): one shared database holds the desired state; one writer (the API on one
host, or an operator's `coserve apply`) changes it, every host reconciles from it alone, and each host's status
is its own. What a shared implementation must provide, because the callers rely on it:
- one transaction per `transaction()` block and per method: all of it or none, and reads in one block see one
  snapshot (PostgreSQL's REPEATABLE READ, or conditional writes where the database has no transactions);
- a generation per endpoint that every API change bumps, and `mark_*`/`forget` applied only when the
  endpoint's generation is still the one in the `Work` (compare-and-set): a result for a superseded change is
  stale, whichever host computed it;
- status per host: the `mark_*`/`system_updating` outcome of one host may not overwrite another's (a row per
  host and endpoint, with the desired state shared), which the SQLite store, one host's, does not need;
- calls safe from any thread (the API runs calls in threads; the reconciler reads from one of its own);
- every failure to reach the state raised as `StateUnavailable`, within a bounded time (a short timeout per
  call: the API's threads and the reconciler's writes, on the supervisor's event loop, wait it out). Callers
  catch only that: the reconciler keeps what runs and retries later (`runtime.control.outage`), the API
  answers 503 ServiceUnavailable.
Built: this interface, the SQLite implementation, and the callers' handling of `StateUnavailable`. On paper:
the shared implementation, and the per-host status rows it needs (see the README, "More than one host").
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from runtime.control.icstore import Component
from runtime.control.records import Endpoint, Kind, Resource, Work


class StateUnavailable(Exception):
    """The state cannot be read or written now (file unreadable, locked, disk gone, database unreachable).

    Raised by every `StateStore` and `StateTx` method for that, and only for that: a bad request or a bug in the
    caller is not this. The state is as it was before the call."""


class StateTx(Protocol):
    """Reads and writes inside one transaction; valid only inside its `with` block."""

    def resource(self, kind: Kind, name: str) -> Resource | None: ...
    def resources(self, kind: Kind) -> list[Resource]: ...
    def count(self, kind: Kind) -> int: ...
    def add_resource(self, kind: Kind, r: Resource) -> None: ...
    def delete_resource(self, kind: Kind, name: str) -> bool: ...
    def endpoint(self, name: str) -> Endpoint | None: ...
    def endpoints(self) -> list[Endpoint]: ...
    def count_endpoints(self) -> int: ...
    def put_endpoint(self, e: Endpoint) -> None: ...
    def delete_endpoint(self, name: str) -> bool: ...
    def component(self, name: str) -> Component | None: ...
    def components(self, endpoint: str | None = None) -> list[Component]: ...  # every one, or one endpoint's
    def put_component(self, c: Component) -> None: ...
    def delete_component(self, name: str) -> bool: ...


class StateStore(Protocol):
    clock: Callable[[], float]  # epoch seconds, for the records' times

    def transaction(self, write: bool = True) -> AbstractContextManager[StateTx]:
        """The API's: all or nothing, committed when the block ends, rolled back if it raises."""
        ...

    def endpoints(self) -> list[Endpoint]: ...
    def endpoint(self, name: str) -> Endpoint | None: ...

    # The reconciler's: what to do, and its outcome. Each `Work` result applies only to the generation it was
    # given (returns False, changing nothing, when an API call changed the endpoint since).
    def pending(self) -> list[Work]: ...
    def mark_in_service(self, work: Work, reason: str | None = None) -> bool: ...
    def mark_failed(self, work: Work, reason: str) -> bool: ...
    def mark_update_failed(self, work: Work, reason: str) -> bool: ...
    def system_updating(self, name: str, on: bool) -> None: ...
    def forget(self, work: Work) -> bool: ...
