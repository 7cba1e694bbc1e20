"""The front door's limits are Coserve.Server settings: defaults, conversion, and a clear error per bad value."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.config import ConfigError, parse_deployment
from runtime.frontdoor import connection_limits, router_settings


def doc(**server: Any) -> dict[str, Any]:
    return {"EndpointName": "ep", "InferenceExecutionConfig": {"Mode": "Direct"},
            "Containers": [{"ContainerHostname": "a", "Image": "process"}],
            "Coserve": {"Containers": {"a": {"Command": ["true"]}}, "Server": server}}  # fmt: skip


def test_defaults_are_safe_and_reach_the_front_door() -> None:
    d = parse_deployment(doc())
    limits, router = connection_limits(d), router_settings(d)
    assert (limits.max_header_bytes, limits.max_headers, limits.max_connections) == (16384, 100, 1000)
    assert (limits.header_timeout_s, limits.body_timeout_s, d.server.keep_alive_s) == (10.0, 30.0, 5.0)
    assert (router.max_response, router.max_in_flight) == (6291456, 100)
    assert d.server.status_listen is None


def test_values_are_converted() -> None:
    d = parse_deployment(
        doc(MaxResponse="20MiB", MaxHeaderSize="32KiB", HeaderTimeout="2s", StatusListen="127.0.0.1:9100")
    )
    assert (d.server.max_response_bytes, d.server.max_header_bytes) == (20 * 2**20, 32 * 2**10)
    assert (d.server.header_timeout_s, d.server.status_listen) == (2.0, "127.0.0.1:9100")


@pytest.mark.parametrize(
    ("key", "value"),
    [("MaxResponse", "0"), ("MaxHeaderSize", "100"), ("MaxHeaders", 5000), ("HeaderTimeout", ".inf"),
     ("BodyTimeout", "0s"), ("KeepAlive", -1), ("MaxConnections", 0), ("MaxInFlight", True),
     ("StatusListen", "0.0.0.0:9100"), ("StatusListen", "127.0.0.1")],
)  # fmt: skip
def test_bad_values_name_the_key_and_the_value(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_deployment(doc(**{key: value}))
    assert f"Coserve.Server.{key}" in str(caught.value)
