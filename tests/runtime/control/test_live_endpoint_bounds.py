"""An endpoint's own start bound, through boto3 against a real coserve: a host whose StartupTimeout is 2 s runs a
container that answers /ping only after 5 s when its variant gives ContainerStartupHealthCheckTimeoutInSeconds,
and fails it (naming the host's bound) when not; a `coserve:` tag for a host setting is refused at the call.

SageMaker's smallest ContainerStartupHealthCheckTimeoutInSeconds is 60 s, so the test shows the variant's value
taking over from a host bound the container cannot meet, rather than waiting a minute for it to run out
(tests/runtime/supervisor/test_unit_bounds.py shows a unit's own bound running out, on a fake clock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.control.test_live_boto3 import WAIT, clients, model_url, start_host
from tests.support import client_error, free_block, free_port, wait_for

pytestmark = pytest.mark.integration


def _model_and_config(sm: Any, name: str, url: str, **variant: Any) -> None:
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "process", "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.c5.large", "InitialInstanceCount": 1,
         **variant}])  # fmt: skip


def test_the_variant_s_startup_timeout_is_the_endpoint_s_own(tmp_path: Path) -> None:
    tmp, port, base = tmp_path, free_port(), free_block(10, 8)
    c = start_host(tmp / "host", tmp / "state", port, base, StartupTimeout="2s", StartRetries=0)
    sm, rt = clients(c)
    slow = model_url(tmp, "slow", "slow", delay_s=5)
    try:
        _model_and_config(sm, "own", slow, ContainerStartupHealthCheckTimeoutInSeconds=60)
        _model_and_config(sm, "hosts", slow)
        workers = [{"Key": "coserve:Server.Workers", "Value": "4"}]
        refused = client_error(lambda: sm.create_endpoint(EndpointName="own", EndpointConfigName="own", Tags=workers))
        assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 400)
        assert refused["Error"]["Message"].startswith("Tag coserve:Server.Workers: Coserve.Server.Workers is the host")
        assert sm.list_endpoints()["Endpoints"] == [], "nothing was stored"

        sm.create_endpoint(EndpointName="own", EndpointConfigName="own")
        sm.create_endpoint(EndpointName="hosts", EndpointConfigName="hosts")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="own", WaiterConfig=WAIT)
        out = rt.invoke_endpoint(EndpointName="own", Body=b"x", ContentType="text/plain")
        assert json.loads(out["Body"].read())["model"] == "slow"
        failed = wait_for(lambda: (d := sm.describe_endpoint(EndpointName="hosts"))["EndpointStatus"] == "Failed"
                          and d, 30, "the endpoint on the host's bound to fail")  # fmt: skip
        assert failed["FailureReason"] == (
            "container primary: gave up: 1 exit in a row, the last: did not pass the ping health check within 2s"
        )
    finally:
        sm.close()
        rt.close()
        c.stop()
