"""A deployment file applied as desired state: created once, unchanged when applied again, updated when changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.control.apply import apply_document
from runtime.control.context import Context
from runtime.control.desired import to_deployment
from runtime.control.errors import ValidationException
from runtime.control.ops import HANDLERS, Operations
from runtime.control.store import Store
from runtime.control.wire import Wire
from tests.runtime.control.conftest import FakeReconciler


@pytest.fixture(scope="module")
def wire() -> Wire:
    return Wire(HANDLERS).load()


def _doc(env: str = "1") -> dict[str, Any]:
    return {
        "EndpointName": "filed",
        "ModelName": "featurizer",
        "Containers": [{"ContainerHostname": "feat", "Image": "process", "ModelDataUrl": "models/feat.tar.gz",
                        "Environment": {"VERSION": env}}],
        "Coserve": {"Containers": {"feat": {"Command": ["python", "-m", "feat"]}}},
    }  # fmt: skip


def test_create_then_unchanged_then_update(store: Store, wire: Wire, tmp_path: Path) -> None:
    ops = Operations(Context(store))
    assert apply_document(ops, wire, _doc(), tmp_path) == "created"
    [work] = store.pending()
    assert work.target is not None
    d = to_deployment(work.name, work.target, work.coserve)
    assert d.containers[0].model_data_url == str(tmp_path / "models/feat.tar.gz")  # next to the file
    assert d.containers[0].command == ("python", "-m", "feat")
    assert apply_document(ops, wire, _doc(), tmp_path) == "unchanged"  # still Creating: nothing new asked
    FakeReconciler(store).succeed("filed")
    assert apply_document(ops, wire, _doc(), tmp_path) == "unchanged"
    assert apply_document(ops, wire, _doc(env="2"), tmp_path) == "updated"
    e: Any = store.endpoint("filed")
    assert e.status == "Updating" and e.target.models[e.target.config["ProductionVariants"][0]["ModelName"]][
        "Containers"
    ][0]["Environment"] == {"VERSION": "2"}
    assert len(ops.call("ListModels", {})["Models"]) == 2


def test_a_bad_file_names_the_field_and_writes_nothing(store: Store, wire: Wire) -> None:
    ops = Operations(Context(store))
    bad = {**_doc(), "Coserve": {"Containers": {"feat": {"Memory": "lots"}}}}
    with pytest.raises(ValidationException, match=r"Coserve.Containers.feat.Memory"):
        apply_document(ops, wire, bad, Path("/srv"))
    assert store.endpoints() == [] and ops.call("ListModels", {})["Models"] == []
    with pytest.raises(ValidationException, match=r"Unknown parameter in Containers\[0\]: \"Colour\""):
        apply_document(ops, wire, {**_doc(), "Containers": [{"Image": "process", "Colour": "blue"}]}, Path("/srv"))


def test_host_sections_are_not_the_endpoints(store: Store, wire: Wire, tmp_path: Path) -> None:
    """Server, Storage, Auth and Metrics are read by `serve` at start: the endpoint neither keeps them (an Auth
    secret file is not read again, from wherever the process runs) nor changes when only they change."""
    ops = Operations(Context(store))
    auth = {"Principals": [{"AccessKeyId": "AK", "SecretAccessKeyFile": "not-here.secret", "Policies": []}]}
    server = {"Workers": 2, "StartupTimeout": "10m"}
    doc = {**_doc(), "Coserve": {**_doc()["Coserve"], "Auth": auth, "Server": server}}
    assert apply_document(ops, wire, doc, tmp_path) == "created"
    e: Any = store.endpoint("filed")
    assert e.coserve == _doc()["Coserve"]
    # Its containers start within the host's StartupTimeout: the file's, which `serve` took as the host's.
    assert to_deployment(e.name, e.target, e.coserve).startup_timeout_s is None
    assert apply_document(ops, wire, _doc(), tmp_path) == "unchanged"
