"""Coserve.Server's response-streaming timeouts: parsed as durations, bounded, and handed to the router."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.config import ConfigError, parse_deployment
from runtime.frontdoor import router_settings


def doc(server: dict[str, Any]) -> dict[str, Any]:
    return {
        "EndpointName": "ep",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "a", "Image": "process"}],
        "Coserve": {"Containers": {"a": {"Command": ["srv"]}}, "Server": server},
    }


def test_stream_timeouts_default_to_a_minute_and_reach_the_router() -> None:
    s = router_settings(parse_deployment(doc({})))
    assert (s.first_byte_timeout_s, s.chunk_timeout_s) == (60, 60)
    s = router_settings(parse_deployment(doc({"StreamFirstByteTimeout": "2m", "StreamChunkTimeout": "500ms"})))
    assert (s.first_byte_timeout_s, s.chunk_timeout_s) == (120, 0.5)


def test_bad_stream_timeouts_name_the_field_and_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        parse_deployment(doc({"StreamFirstByteTimeout": "0s", "StreamChunkTimeout": "soon"}))
    found = info.value.problems
    assert "Coserve.Server.StreamFirstByteTimeout: must be over 0s, at most 1h (got '0s')" in found, found
    assert any(p.startswith("Coserve.Server.StreamChunkTimeout: expected a duration") for p in found), found
