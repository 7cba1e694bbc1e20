"""A state store that cannot be reached: SQLite's errors become StateUnavailable (real files), and the
reconciler rides an outage out. The outage in the reconciler's and the API's tests is a FAKE switch around the
real store (a real SQLite outage costs about 10 s per call: test_state_outage_live.py makes one against a live
host)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import cast

import pytest
from botocore.exceptions import ClientError

from runtime.control.outage import RETRY_S
from runtime.control.reconcile import Generation, Reconciler
from runtime.control.records import Endpoint, Resource, Work
from runtime.control.state import StateStore, StateTx, StateUnavailable
from runtime.control.store import Store
from runtime.control.tx import Tx
from tests.runtime.control.conftest import serve
from tests.runtime.control.helpers import model
from tests.runtime.control.test_reconcile import FakeFleet, setup, status
from tests.support import wait_for


class Switched:
    """The real store, behind a switch: `down` refuses every call, `writes_down` only the reconciler's writes."""

    def __init__(self, store: Store) -> None:
        self.store, self.clock = store, store.clock
        self.down = self.writes_down = self.hang = False
        self.release = threading.Event()
        self.calls = 0

    def _gate(self, write: bool) -> None:
        self.calls += 1
        if self.hang:  # a store that takes its time to fail, as SQLite on a lock (~10 s)
            self.release.wait(30)
        if self.down or (write and self.writes_down):
            raise StateUnavailable("switched off by the test")

    def transaction(self, write: bool = True) -> AbstractContextManager[StateTx]:
        self._gate(write)
        return self.store.transaction(write)

    def endpoints(self) -> list[Endpoint]:
        self._gate(False)
        return self.store.endpoints()

    def endpoint(self, name: str) -> Endpoint | None:
        self._gate(False)
        return self.store.endpoint(name)

    def pending(self) -> list[Work]:
        self._gate(False)
        return self.store.pending()

    def mark_in_service(self, work: Work, reason: str | None = None) -> bool:
        self._gate(True)
        return self.store.mark_in_service(work, reason)

    def mark_failed(self, work: Work, reason: str) -> bool:
        self._gate(True)
        return self.store.mark_failed(work, reason)

    def mark_update_failed(self, work: Work, reason: str) -> bool:
        self._gate(True)
        return self.store.mark_update_failed(work, reason)

    def system_updating(self, name: str, on: bool) -> None:
        self._gate(True)
        self.store.system_updating(name, on)

    def forget(self, work: Work) -> bool:
        self._gate(True)
        return self.store.forget(work)


def test_sqlite_errors_that_mean_unusable_are_state_unavailable_and_bugs_are_not(state_dir: Path) -> None:
    state_dir.mkdir()
    (state_dir / "coserve.db").write_bytes(b"not a database, " * 512)
    with pytest.raises(StateUnavailable, match="file is not a database"):
        Store(state_dir).open()
    (state_dir / "coserve.db").unlink()
    store = Store(state_dir).open()
    try:
        row = Resource("m", "arn:m", 0.0, {}, [])
        with store.transaction() as tx:
            tx.add_resource("model", row)
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as tx:  # a caller's bug passes unchanged
            tx.add_resource("model", row)
        with pytest.raises(sqlite3.OperationalError, match="syntax error"), store.transaction() as tx:
            cast(Tx, tx).db.execute("SELEC 1")  # bad SQL: an OperationalError, but a bug, not an outage
        with store.transaction(write=False) as tx:
            assert tx.count("model") == 1
    finally:
        store.close()


@pytest.fixture
def switched(store: Store) -> Iterator[Switched]:
    yield Switched(store)


def tick_until(r: Reconciler, now: float, done: Callable[[], bool], what: str) -> None:
    """Tick at `now` until `done`: the probe runs in a thread of its own."""
    wait_for(lambda: (r.tick(now), done())[1], 10, what)


def test_an_outage_changes_nothing_is_logged_once_and_probed_off_the_loop(
    store: Store, switched: Switched, caplog: pytest.LogCaptureFixture
) -> None:
    ops, fleet = setup(store), FakeFleet()
    state: StateStore = switched  # structurally a StateStore: mypy checks the assignment
    r = Reconciler(state, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.ready(1)
    r.tick(2.0)
    assert fleet.routes["ep"] == Generation("ep", 1)
    ops.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
    switched.down = True
    caplog.set_level(logging.INFO, "runtime.control")
    calls = switched.calls
    for now in (3.0, 3.1, 3.2):
        r.tick(now)  # raises nothing: the host goes on
    assert switched.calls == calls + 1  # one call finds the outage; then the back-off
    assert fleet.routes["ep"] == Generation("ep", 1) and fleet.calls[-1] == "route ep -> 1"  # untouched
    switched.hang = True  # the next probe blocks until released: ticks must not wait for it
    r.tick(3.0 + RETRY_S[0])
    wait_for(lambda: switched.calls == calls + 2, 10, "the probe to start")
    for now in (4.1, 50.0, 100.0):
        r.tick(now)  # returns: the probe blocks its own thread only, and no second one starts beside it
    assert switched.calls == calls + 2
    switched.release.set()
    assert [m for m in caplog.messages if "unreachable" in m] == [
        "state store unreachable: switched off by the test; serving what runs, retrying"
    ]
    switched.down = switched.hang = False
    tick_until(r, 200.0, lambda: fleet.calls[-1] == "launch ep#2", "the pending update to start")
    assert sum("reachable again" in m for m in caplog.messages) == 1
    fleet.ready(2)
    r.tick(201.0)
    assert fleet.routes["ep"] == Generation("ep", 2) and status(store) == ("InService", None, "c2")


def test_a_failed_write_leaves_memory_as_the_store_so_the_next_tick_does_the_step_again(
    store: Store, switched: Switched
) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(switched, fleet)
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    r.tick(1.0)
    fleet.ready(1)
    switched.writes_down = True
    r.tick(2.0)  # ready, but InService cannot be recorded: not routed yet, and not relaunched later
    assert "ep" not in fleet.routes and status(store)[0] == "Creating"
    switched.writes_down = False
    tick_until(r, 2.0 + RETRY_S[0], lambda: "ep" in fleet.routes, "the switch")
    assert fleet.routes["ep"] == Generation("ep", 1) and status(store) == ("InService", None, "c1")
    assert fleet.calls == ["launch ep#1", "route ep -> 1"]  # one launch: the failed write did not restart it
    ops.call("DeleteEndpoint", {"EndpointName": "ep"})
    switched.writes_down = True
    r.tick(5.0)  # retired and unrouted, but not forgotten: Deleting until the store answers
    assert fleet.routes["ep"] is None and status(store)[0] == "Deleting"
    switched.writes_down = False
    tick_until(r, 5.0 + RETRY_S[0], lambda: store.endpoint("ep") is None, "the delete to be recorded")


def test_the_api_answers_503_service_unavailable_in_sagemakers_shape(store: Store, switched: Switched) -> None:
    served = serve(cast(Store, switched))  # serve() is typed on the SQLite store; it uses only the interface
    sm = served.client()
    try:
        sm.create_model(**model("m1"))
        switched.down = True
        for call in (lambda: sm.describe_model(ModelName="m1"), lambda: sm.delete_model(ModelName="m1")):
            with pytest.raises(ClientError) as caught:
                call()
            assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert "Retry later" in caught.value.response["Error"]["Message"]
        switched.down = False
        assert sm.describe_model(ModelName="m1")["ModelName"] == "m1"  # nothing was changed
    finally:
        sm.close()
        served.stop()


def test_a_read_that_does_not_answer_in_time_is_an_outage_and_the_tick_goes_on(
    store: Store, switched: Switched, caplog: pytest.LogCaptureFixture
) -> None:
    ops, fleet = setup(store), FakeFleet()
    r = Reconciler(switched, fleet)
    r.outage.deadline_s = 0.2
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    switched.hang = True  # as SQLite on a lock it cannot take: the read waits (until released, here)
    caplog.set_level(logging.INFO, "runtime.control")
    r.tick(1.0)  # returns after the deadline, with nothing done
    assert fleet.calls == [] and caplog.messages == [
        "state store unreachable: no answer within 0.2s; serving what runs, retrying"
    ]
    r.tick(5.0)  # the read still waits in the store's thread: no second call beside it
    assert switched.calls == 1
    switched.hang = False
    switched.release.set()
    tick_until(r, 10.0, lambda: fleet.calls == ["launch ep#1"], "the create to start once the store answers")
    assert sum("reachable again" in m for m in caplog.messages) == 1
