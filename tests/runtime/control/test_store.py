"""The state store on its own: durability across reopen, all-or-nothing calls, the schema version check."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runtime.control.context import Context
from runtime.control.ops import Operations
from runtime.control.schema import SchemaError
from runtime.control.store import Store
from tests.runtime.control.conftest import FakeReconciler, serve
from tests.runtime.control.helpers import config, model


def _ops(store: Store) -> Operations:
    return Operations(Context(store))


def test_state_survives_close_and_reopen(state_dir: Path) -> None:
    store = Store(state_dir).open()
    ops = _ops(store)
    ops.call("CreateModel", model("m1"))
    ops.call("CreateEndpointConfig", config("c1"))
    ops.call(
        "CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"}, coserve={"Defaults": {"Memory": "1GiB"}}
    )
    FakeReconciler(store).succeed("ep")
    ops.call("CreateModel", model("m2"))
    ops.call("CreateEndpointConfig", config("c2", "m2"))
    ops.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})  # a restart finds it Updating
    store.close()

    again = Store(state_dir).open()
    try:
        [e] = again.endpoints()
        assert (e.status, e.config_name, e.coserve) == ("Updating", "c1", {"Defaults": {"Memory": "1GiB"}})
        assert e.running is not None and e.running.config_name == "c1"  # what to bring back at once
        [work] = again.pending()
        assert work.target is not None and work.target.models["m2"]["ModelName"] == "m2"
        assert again.mark_in_service(work)
        assert _ops(again).call("DescribeEndpoint", {"EndpointName": "ep"})["EndpointConfigName"] == "c2"
    finally:
        again.close()


def test_restart_through_boto3_serves_the_same_state(state_dir: Path) -> None:
    store = Store(state_dir).open()
    served = serve(store)
    sm = served.client()
    sm.create_model(**model("m1"))
    sm.create_endpoint_config(**config("c1"))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    FakeReconciler(store).succeed("ep")
    before = sm.describe_endpoint(EndpointName="ep")
    sm.close()
    served.stop()
    store.close()

    store = Store(state_dir).open()
    served = serve(store)
    sm = served.client()
    try:
        after = sm.describe_endpoint(EndpointName="ep")
        keep = ("EndpointStatus", "EndpointConfigName", "CreationTime", "LastModifiedTime", "ProductionVariants")
        assert {k: after[k] for k in keep} == {k: before[k] for k in keep}
        assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["m1"]
    finally:
        sm.close()
        served.stop()
        store.close()


def test_a_failing_call_leaves_the_old_state(store: Store) -> None:
    ops = _ops(store)
    ops.call("CreateModel", model("m1"))
    with pytest.raises(RuntimeError, match="crash"), store.transaction() as tx:
        tx.delete_resource("model", "m1")
        raise RuntimeError("crash mid-call")
    with store.transaction() as tx:
        assert [r.name for r in tx.resources("model")] == ["m1"]


def test_an_unknown_schema_version_is_refused_with_a_clear_error(state_dir: Path) -> None:
    Store(state_dir).open().close()
    db = sqlite3.connect(state_dir / "coserve.db")
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    with pytest.raises(SchemaError, match=r"schema version 7 .* this coserve reads version 2 only"):
        Store(state_dir).open()


def test_a_stale_reconciler_result_is_dropped(store: Store) -> None:
    ops = _ops(store)
    ops.call("CreateModel", model("m1"))
    ops.call("CreateEndpointConfig", config("c1"))
    ops.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    [creating] = store.pending()
    assert not store.mark_update_failed(creating, "wrong transition")  # Creating fails with mark_failed
    assert store.mark_failed(creating, "Container primary: exited with status 1")
    assert not store.mark_in_service(creating)  # already applied: its generation moved on
    e: Any = store.endpoint("ep")
    assert (e.status, e.failure_reason, e.running) == ("Failed", "Container primary: exited with status 1", None)


def test_two_processes_worth_of_stores_write_the_same_file(state_dir: Path) -> None:
    """Gunicorn workers each open their own Store on one file: WAL and write locks keep every call whole."""
    import threading

    stores = [Store(state_dir).open(), Store(state_dir).open()]
    try:

        def create(i: int) -> None:
            for j in range(15):
                _ops(stores[i]).call("CreateModel", model(f"s{i}-m{j}"))

        threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        with stores[0].transaction(write=False) as tx:
            assert tx.count("model") == 30
    finally:
        for s in stores:
            s.close()


CRASH = """
import os, sys
from pathlib import Path
from runtime.control.store import Store
store = Store(Path(sys.argv[1])).open()
with store.transaction() as tx:
    tx.delete_resource("model", "m1")
    tx.db.execute("INSERT INTO resources VALUES ('model', 'half', 'arn', 0, '{}', '[]')")
    os._exit(9)  # killed mid-call: no COMMIT, no ROLLBACK, no close
"""


def test_a_process_killed_mid_call_leaves_the_old_state(state_dir: Path) -> None:
    import subprocess
    import sys

    store = Store(state_dir).open()
    _ops(store).call("CreateModel", model("m1"))
    store.close()
    done = subprocess.run([sys.executable, "-c", CRASH, str(state_dir)], timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == 9
    again = Store(state_dir).open()
    try:
        with again.transaction(write=False) as tx:
            assert [r.name for r in tx.resources("model")] == ["m1"]
    finally:
        again.close()
