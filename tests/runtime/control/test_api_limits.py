"""What coserve cannot honour is named, never ignored; placement fields are kept; host limits are enforced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from runtime.control.context import HostLimits
from runtime.control.store import Store
from tests.runtime.control.conftest import serve
from tests.runtime.control.helpers import config, error, model
from tests.support import client_error

UNSUPPORTED_MODEL = [
    ({"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}, "VpcConfig"),
    ({"EnableNetworkIsolation": True}, "EnableNetworkIsolation"),
    ({"PrimaryContainer": {"Image": "process", "Mode": "MultiModel"}}, "PrimaryContainer.Mode"),
    ({"PrimaryContainer": {"Image": "process", "ModelPackageName": "pkg"}}, "PrimaryContainer.ModelPackageName"),
    ({"PrimaryContainer": {"Image": "process", "ImageConfig": {"RepositoryAccessMode": "Vpc"}}},
     "PrimaryContainer.ImageConfig"),
]  # fmt: skip
UNSUPPORTED_VARIANT = [
    ({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1}}, "ProductionVariants[0].ServerlessConfig"),
    ({"AcceleratorType": "ml.eia1.medium"}, "ProductionVariants[0].AcceleratorType"),
    ({"ManagedInstanceScaling": {"Status": "ENABLED"}}, "ProductionVariants[0].ManagedInstanceScaling"),
]
UNSUPPORTED_CONFIG = [
    ({"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "https://b/o"}}},
     "AsyncInferenceConfig.OutputConfig.S3OutputPath other than s3://"),
    ({"DataCaptureConfig": {"InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://b/c",
                            "CaptureOptions": [{"CaptureMode": "Input"}]}}, "DataCaptureConfig"),
    ({"KmsKeyId": "key"}, "KmsKeyId"),
]  # fmt: skip


def _named(call: Any, field: str) -> None:
    code, message = error(client_error(call))
    assert code == "ValidationException" and message.startswith(f"{field} is not supported by coserve: "), message


def test_unsupported_fields_name_themselves(sm: Any) -> None:
    for extra, field in UNSUPPORTED_MODEL:
        _named(lambda extra=extra: sm.create_model(**{**model("m1"), **extra}), field)
    assert sm.list_models()["Models"] == []
    sm.create_model(**model("m1"))
    for variant, field in UNSUPPORTED_VARIANT:
        _named(lambda variant=variant: sm.create_endpoint_config(**config("c1", **variant)), field)
    for extra, field in UNSUPPORTED_CONFIG:
        _named(lambda extra=extra: sm.create_endpoint_config(**{**config("c1"), **extra}), field)
    two = config("c1")
    two["ProductionVariants"].append({**two["ProductionVariants"][0], "VariantName": "B"})
    _named(lambda: sm.create_endpoint_config(**two), "ProductionVariants")
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    sm.create_endpoint_config(**config("c1"))
    policy = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}
    }
    _named(
        lambda: sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1", DeploymentConfig=policy),
        "DeploymentConfig",
    )
    assert sm.list_endpoints()["Endpoints"] == []


def test_placement_fields_are_accepted_and_shown_back(sm: Any) -> None:
    sm.create_model(**model("m1"), ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                    Tags=[{"Key": "team", "Value": "a"}])  # fmt: skip
    assert sm.describe_model(ModelName="m1")["ExecutionRoleArn"] == "arn:aws:iam::000000000000:role/r"
    sm.create_endpoint_config(**config("c1", InstanceType="ml.g5.xlarge", InitialInstanceCount=3, VolumeSizeInGB=50))
    v = sm.describe_endpoint_config(EndpointConfigName="c1")["ProductionVariants"][0]
    assert (v["InstanceType"], v["InitialInstanceCount"], v["VolumeSizeInGB"]) == ("ml.g5.xlarge", 3, 50)


@pytest.fixture
def small(store: Store) -> Iterator[Any]:
    served = serve(store, HostLimits(max_models=2, max_endpoint_configs=1, max_endpoints=1))
    client = served.client()
    yield client
    client.close()
    served.stop()


def test_host_limits_answer_resource_limit_exceeded(small: Any) -> None:
    small.create_model(**model("m1"))
    small.create_model(**model("m2"))
    code, message = error(client_error(lambda: small.create_model(**model("m3"))))
    assert code == "ResourceLimitExceeded"
    assert message.startswith("The host-level limit 'Number of Models per host' is 2, with current utilization of 2")
    small.create_endpoint_config(**config("c1"))
    assert error(client_error(lambda: small.create_endpoint_config(**config("c2"))))[0] == "ResourceLimitExceeded"
    small.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    code, message = error(client_error(lambda: small.create_endpoint(EndpointName="e2", EndpointConfigName="c1")))
    assert code == "ResourceLimitExceeded" and "'Number of Endpoints per host' is 1" in message


def test_coserve_settings_ride_on_coserve_tags(sm: Any, served: Any) -> None:
    from runtime.control.desired import to_deployment

    sm.create_model(**model("m1"))
    sm.create_endpoint_config(**config("c1"))
    bad = [{"Key": "coserve:Defaults.Memory", "Value": "lots"}]
    code, message = error(
        client_error(lambda: sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1", Tags=bad))
    )
    assert code == "ValidationException" and "Memory: expected a size" in message and "lots" in message
    good = [
        {"Key": "team", "Value": "a"},
        {"Key": "coserve:Containers.primary.Memory", "Value": "512MiB"},
        {"Key": "coserve:Server.StartupTimeout", "Value": "2m"},
    ]
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1", Tags=good)
    e = served.store.endpoint("ep")
    assert e.coserve == {"Containers": {"primary": {"Memory": "512MiB"}}, "Server": {"StartupTimeout": "2m"}}
    d = to_deployment(e.name, e.target, e.coserve)
    assert d.containers[0].limits.memory_bytes == 512 * 2**20 and d.startup_timeout_s == 120


@pytest.mark.parametrize(
    "key", ["coserve:Server.Workers", "coserve:Server.PortBase", "coserve:Storage.CacheDir", "coserve:Auth.Mode",
            "coserve:Metrics.Emf", "coserve:Server"],
)  # fmt: skip
def test_a_tag_for_a_host_setting_is_refused_by_name_and_nothing_is_stored(sm: Any, key: str) -> None:
    sm.create_model(**model("m1"))
    sm.create_endpoint_config(**config("c1"))
    tags = [{"Key": "coserve:Defaults.Memory", "Value": "1GiB"}, {"Key": key, "Value": "2"}]
    code, message = error(client_error(lambda: sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1",
                                                                    Tags=tags)))  # fmt: skip
    setting = key.removeprefix("coserve:")
    assert code == "ValidationException"
    assert message.startswith(f"Tag {key}: Coserve.{setting} is the host's setting, the same for every endpoint")
    assert sm.list_endpoints()["Endpoints"] == []


def test_the_variant_s_timeouts_are_taken_within_sagemaker_s_bounds(sm: Any, served: Any) -> None:
    from runtime.control.desired import to_deployment

    sm.create_model(**model("m1"))
    # boto3 checks the minimum itself: one that does not shows the host checks it too.
    unchecked = boto3.client("sagemaker", endpoint_url=served.url, region_name="us-east-1", aws_access_key_id="x",
                             aws_secret_access_key="x", config=Config(parameter_validation=False))  # fmt: skip
    for field in ("ContainerStartupHealthCheckTimeoutInSeconds", "ModelDataDownloadTimeoutInSeconds"):
        for client, value in ((unchecked, 59), (sm, 3601)):
            call = lambda c=client, f=field, v=value: c.create_endpoint_config(**config("c0", **{f: v}))  # noqa: E731
            code, message = error(client_error(call))
            assert code == "ValidationException" and field in message and str(value) in message, message
    unchecked.close()
    bounds = {"ContainerStartupHealthCheckTimeoutInSeconds": 60, "ModelDataDownloadTimeoutInSeconds": 3600}
    sm.create_endpoint_config(**config("c1", **bounds))
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    e = served.store.endpoint("ep")
    d = to_deployment(e.name, e.target, e.coserve)
    assert (d.startup_timeout_s, d.fetch_timeout_s) == (60, 3600)


def test_a_variant_hosting_components_takes_no_timeouts(sm: Any) -> None:
    hosting = {"EndpointConfigName": "c1", "ProductionVariants": [
        {"VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]}  # fmt: skip
    for field in ("ContainerStartupHealthCheckTimeoutInSeconds", "ModelDataDownloadTimeoutInSeconds"):
        variant = {**hosting["ProductionVariants"][0], field: 600}
        _named(lambda v=variant: sm.create_endpoint_config(**{**hosting, "ProductionVariants": [v]}),
               f"ProductionVariants[0].{field}")  # fmt: skip
    sm.create_endpoint_config(**hosting)
    tag = [{"Key": "coserve:Server.StartupTimeout", "Value": "2m"}]
    code, message = error(client_error(lambda: sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1",
                                                                    Tags=tag)))  # fmt: skip
    assert code == "ValidationException" and message.startswith("Tag coserve:Server.StartupTimeout: endpoint ep hosts")
    assert sm.list_endpoints()["Endpoints"] == []
