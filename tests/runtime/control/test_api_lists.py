"""List calls through real boto3: pagination (botocore's paginators), filters and sorting."""

from __future__ import annotations

from typing import Any

from tests.runtime.control.conftest import FakeReconciler
from tests.runtime.control.helpers import config, error, model, tampered
from tests.support import client_error


def test_list_models_paginates_with_botocores_paginator(sm: Any, served: Any) -> None:
    clock = iter(range(1_700_000_000, 1_700_000_100))
    served.store.clock = lambda: float(next(clock))  # one second apart: the order is by creation
    names = [f"model-{i:02d}" for i in range(23)]
    for name in names:
        sm.create_model(**model(name))
    pages = list(sm.get_paginator("list_models").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Models"]) for p in pages] == [5, 5, 5, 5, 3]
    assert [m["ModelName"] for p in pages for m in p["Models"]] == names[::-1]  # newest first, by default
    first = sm.list_models(MaxResults=100, SortBy="Name", SortOrder="Ascending")
    assert [m["ModelName"] for m in first["Models"]] == names and "NextToken" not in first
    assert len(sm.list_models()["Models"]) == 10  # SageMaker's default page
    some = sm.list_models(NameContains="DEL-1", SortBy="Name", SortOrder="Ascending")["Models"]
    assert [m["ModelName"] for m in some] == names[10:20]
    window = sm.list_models(CreationTimeAfter=1_700_000_002, CreationTimeBefore=1_700_000_006, SortOrder="Ascending")
    assert [m["ModelName"] for m in window["Models"]] == names[3:6]
    undo = tampered(sm, "ListModels", b'{"NextToken": "garbage!"}')
    code, message = error(client_error(lambda: sm.list_models()))
    undo()
    assert (code, message) == ("ValidationException", "Invalid pagination token: 'garbage!'.")


def test_a_timestamp_outside_datetimes_range_or_no_time_at_all_is_the_callers_error(sm: Any) -> None:
    sm.create_model(**model("m1"))
    for body, says in (
        (b'{"CreationTimeBefore": 67768036191676800}', "a timestamp is out of range"),  # found by test_api_fuzz
        (b'{"CreationTimeAfter": "yesterday"}', "Invalid type for parameter CreationTimeAfter"),
        (b'{"CreationTimeAfter": NaN}', "CreationTimeAfter"),
    ):
        undo = tampered(sm, "ListModels", body)
        code, message = error(client_error(lambda: sm.list_models()))
        undo()
        assert code == "ValidationException" and says in message, (body, message)
    assert [m["ModelName"] for m in sm.list_models(CreationTimeBefore=4_000_000_000)["Models"]] == ["m1"]


def test_list_endpoint_configs_and_endpoints_filter(sm: Any, served: Any, reconciler: FakeReconciler) -> None:
    clock = iter(range(1_700_000_000, 1_700_000_100))
    served.store.clock = lambda: float(next(clock))
    sm.create_model(**model("m1"))
    for name in ("alpha", "beta", "gamma"):
        sm.create_endpoint_config(**config(f"{name}-cfg"))
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-cfg")
    names = [c["EndpointConfigName"] for c in sm.list_endpoint_configs(SortBy="Name")["EndpointConfigs"]]
    assert names == ["gamma-cfg", "beta-cfg", "alpha-cfg"]
    reconciler.succeed("beta")
    listed = sm.list_endpoints(StatusEquals="InService")["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [("beta", "InService")]
    creating = sm.list_endpoints(StatusEquals="Creating", SortBy="Name", SortOrder="Ascending")["Endpoints"]
    assert [e["EndpointName"] for e in creating] == ["alpha", "gamma"]
    beta_modified = listed[0]["LastModifiedTime"].timestamp()
    recent = sm.list_endpoints(LastModifiedTimeAfter=beta_modified - 0.5)["Endpoints"]
    assert [e["EndpointName"] for e in recent] == ["beta"]
    by_status = sm.list_endpoints(SortBy="Status", SortOrder="Ascending")["Endpoints"]
    assert [e["EndpointStatus"] for e in by_status] == ["Creating", "Creating", "InService"]
    pages = list(sm.get_paginator("list_endpoints").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["Endpoints"]) for p in pages] == [2, 1]
