"""From an endpoint's snapshot to the runtime's Deployment (runtime.config.parse_deployment)."""

from __future__ import annotations

import pytest

from runtime.control.desired import check_bounds, check_model, to_deployment
from runtime.control.errors import ValidationException
from runtime.control.records import Snapshot
from tests.runtime.control.helpers import config, model


def _snapshot(model_request: dict[str, object], **variant: object) -> Snapshot:
    return Snapshot(
        "c1", config("c1", str(model_request["ModelName"]), **variant), {str(model_request["ModelName"]): model_request}
    )


def test_primary_container_is_one_serial_container() -> None:
    d = to_deployment("ep", _snapshot(model("m1")))
    assert (d.endpoint_name, d.variant_name, d.model_name, d.mode) == ("ep", "AllTraffic", "m1", "Serial")
    [c] = d.containers
    assert (c.hostname, c.adapter, c.command, c.model_data_url) == (
        "primary",
        "process",
        None,
        "file:///srv/models/m.tar.gz",
    )


def test_direct_model_with_the_coserve_section() -> None:
    request = {
        "ModelName": "mce", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "a", "Image": "process"}, {"ContainerHostname": "b", "Image": "process"}],
    }  # fmt: skip
    coserve = {"Containers": {"a": {"Command": ["python", "-m", "a"], "Memory": "1GiB"}}}
    d = to_deployment("ep", _snapshot(request), coserve)
    assert d.mode == "Direct" and [c.hostname for c in d.containers] == ["a", "b"]
    assert d.containers[0].command == ("python", "-m", "a") and d.containers[0].limits.memory_bytes == 2**30
    assert (d.startup_timeout_s, d.fetch_timeout_s) == (None, None)  # the host's bounds


def test_the_endpoint_s_own_bounds_the_variant_s_field_before_the_tag() -> None:
    tag = {"Server": {"StartupTimeout": "2m"}}
    variant = to_deployment("ep", _snapshot(model("m1"), ContainerStartupHealthCheckTimeoutInSeconds=90))
    assert variant.startup_timeout_s == 90
    assert to_deployment("ep", _snapshot(model("m1")), tag).startup_timeout_s == 120
    both = to_deployment("ep", _snapshot(model("m1"), ContainerStartupHealthCheckTimeoutInSeconds=90), tag)
    assert both.startup_timeout_s == 90  # SageMaker's own field, given with this config, wins
    download = to_deployment("ep", _snapshot(model("m1"), ModelDataDownloadTimeoutInSeconds=600))
    assert (download.startup_timeout_s, download.fetch_timeout_s) == (None, 600)
    with pytest.raises(ValidationException, match=r"Coserve.Server.StartupTimeout: expected a duration"):
        to_deployment("ep", _snapshot(model("m1")), {"Server": {"StartupTimeout": "soon"}})


def test_an_endpoint_hosting_components_takes_no_startup_timeout_tag() -> None:
    hosting = Snapshot("c1", {"ProductionVariants": [{"VariantName": "AllTraffic"}]}, {})
    check_bounds("ep", hosting, {"Defaults": {"Memory": "1GiB"}})
    with pytest.raises(ValidationException, match=r"coserve:Server.StartupTimeout: endpoint ep hosts inference"):
        check_bounds("ep", hosting, {"Server": {"StartupTimeout": "2m"}})
    check_bounds("ep", _snapshot(model("m1")), {"Server": {"StartupTimeout": "2m"}})


def test_config_errors_become_one_validation_exception_naming_each_field() -> None:
    with pytest.raises(ValidationException) as caught:
        to_deployment("ep", _snapshot(model("m1")), {"Containers": {"primary": {"Memory": "lots"}}, "Colour": 1})
    assert (
        "Coserve.Containers.primary.Memory" in caught.value.message
        and "Coserve.Colour: unknown key" in caught.value.message
    )
    with pytest.raises(ValidationException, match=r"Containers\[0\].Image: unknown image"):
        check_model(model("m1", image="nginx"))
