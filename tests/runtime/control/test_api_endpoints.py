"""Endpoints through real boto3: lifecycle, waiters, rollback, errors. The reconciler is the test's fake
(`FakeReconciler`): the real one is wired into the host later and moves endpoints on the same way."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import WaiterError

from tests.runtime.control.conftest import FakeReconciler
from tests.runtime.control.helpers import ACCOUNT_ARN, config, error, model
from tests.support import client_error, wait_for

FAST = {"Delay": 1, "MaxAttempts": 30}


def _setup(sm: Any, *models: str) -> None:
    for name in models:
        sm.create_model(**model(name))
        sm.create_endpoint_config(**config(f"{name}-cfg", name))


def _later(action: Any) -> threading.Thread:
    """The reconciler finishes while the waiter polls (as the real one would, on its own tick)."""
    t = threading.Thread(target=action)
    t.start()
    return t


def test_create_waiter_in_service_update_and_delete(sm: Any, reconciler: FakeReconciler) -> None:
    _setup(sm, "m1", "m2")
    assert sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-cfg")["EndpointArn"] == (
        f"{ACCOUNT_ARN}:endpoint/ep"
    )
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "Creating" and "ProductionVariants" not in d
    mover = _later(lambda: (wait_for(lambda: reconciler.store.pending(), 10), reconciler.succeed("ep")))
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=FAST)
    mover.join()
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "m1-cfg"
    variant = d["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic" and variant["CurrentInstanceCount"] == 1
    assert variant["DeployedImages"] == [{"SpecifiedImage": "process", "ResolvedImage": "process"}]
    created = d["LastModifiedTime"]

    sm.update_endpoint(EndpointName="ep", EndpointConfigName="m2-cfg")
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "Updating" and d["EndpointConfigName"] == "m1-cfg"  # the old one serves on
    assert d["PendingDeploymentSummary"]["EndpointConfigName"] == "m2-cfg" and d["LastModifiedTime"] >= created
    code, message = error(client_error(lambda: sm.update_endpoint(EndpointName="ep", EndpointConfigName="m1-cfg")))
    assert (code, message) == (
        "ValidationException",
        f'Cannot update in-progress endpoint "{ACCOUNT_ARN}:endpoint/ep".',
    )
    reconciler.succeed("ep")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "m2-cfg"

    sm.delete_endpoint(EndpointName="ep")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Deleting"
    mover = _later(lambda: reconciler.succeed("ep"))
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep", WaiterConfig=FAST)
    mover.join()
    assert sm.list_endpoints()["Endpoints"] == []


def _waiter_failure(sm: Any, name: str, **kw: Any) -> str:
    try:
        sm.get_waiter(name).wait(WaiterConfig=FAST, **kw)
    except WaiterError as exc:
        return str(exc)
    raise AssertionError(f"{name} should have failed")


def test_failures_create_and_update_rollback(sm: Any, reconciler: FakeReconciler) -> None:
    _setup(sm, "m1", "m2")
    sm.create_endpoint(EndpointName="bad", EndpointConfigName="m1-cfg")
    reconciler.fail("bad", "Container primary: model artifact not found: file:///srv/models/m.tar.gz")
    d = sm.describe_endpoint(EndpointName="bad")
    assert d["EndpointStatus"] == "Failed" and d["FailureReason"].startswith("Container primary: model artifact")
    assert "Waiter encountered a terminal failure state" in _waiter_failure(
        sm, "endpoint_in_service", EndpointName="bad"
    )
    code, message = error(client_error(lambda: sm.update_endpoint(EndpointName="bad", EndpointConfigName="m2-cfg")))
    assert code == "ValidationException" and message.startswith(
        f'Cannot update failed endpoint "{ACCOUNT_ARN}:endpoint/bad".'
    )
    sm.delete_endpoint(EndpointName="bad")
    reconciler.succeed("bad")

    sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-cfg")
    reconciler.succeed("ep")
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="m2-cfg")
    reconciler.fail("ep", "Container primary: did not pass the ping health check within 240s")
    d = sm.describe_endpoint(EndpointName="ep")  # SageMaker's rollback: the old config serves on
    assert (d["EndpointStatus"], d["EndpointConfigName"]) == ("InService", "m1-cfg")
    assert d["FailureReason"] == "Container primary: did not pass the ping health check within 240s"
    assert "PendingDeploymentSummary" not in d


def test_endpoint_errors_are_worded_as_sagemaker(sm: Any, reconciler: FakeReconciler) -> None:
    arn = f"{ACCOUNT_ARN}:endpoint/ghost"
    for call in (
        lambda: sm.describe_endpoint(EndpointName="ghost"),
        lambda: sm.delete_endpoint(EndpointName="ghost"),
        lambda: sm.update_endpoint(EndpointName="ghost", EndpointConfigName="x"),
    ):
        assert error(client_error(call)) == ("ValidationException", f'Could not find endpoint "{arn}".')
    code, message = error(client_error(lambda: sm.create_endpoint(EndpointName="ep", EndpointConfigName="nope")))
    assert (code, message) == (
        "ValidationException",
        f'Could not find endpoint configuration "{ACCOUNT_ARN}:endpoint-config/nope".',
    )
    _setup(sm, "m1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-cfg")
    assert error(client_error(lambda: sm.create_endpoint(EndpointName="EP", EndpointConfigName="m1-cfg"))) == (
        "ValidationException",
        f'Cannot create already existing endpoint "{ACCOUNT_ARN}:endpoint/ep".',
    )
    sm.delete_model(ModelName="m1")  # a config whose model is gone cannot start a new endpoint
    code, message = error(client_error(lambda: sm.create_endpoint(EndpointName="ep2", EndpointConfigName="m1-cfg")))
    assert (code, message) == ("ValidationException", f'Could not find model "{ACCOUNT_ARN}:model/m1".')


def test_deleting_what_an_endpoint_runs_leaves_it_running(sm: Any, reconciler: FakeReconciler) -> None:
    """As on SageMaker: the endpoint keeps the snapshot it was created from."""
    _setup(sm, "m1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-cfg")
    reconciler.succeed("ep")
    sm.delete_endpoint_config(EndpointConfigName="m1-cfg")
    sm.delete_model(ModelName="m1")
    d = sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "m1-cfg"
    running = reconciler.store.endpoint("ep")
    assert running is not None and running.running is not None
    assert running.running.models["m1"]["PrimaryContainer"]["Image"] == "process"


def test_delete_while_creating_makes_the_reconcilers_result_stale(sm: Any, reconciler: FakeReconciler) -> None:
    _setup(sm, "m1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-cfg")
    creating = reconciler.work("ep")
    sm.delete_endpoint(EndpointName="ep")
    assert not reconciler.store.mark_in_service(creating)  # the API changed it since: the result is dropped
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Deleting"
    reconciler.succeed("ep")
    assert sm.list_endpoints()["Endpoints"] == []
