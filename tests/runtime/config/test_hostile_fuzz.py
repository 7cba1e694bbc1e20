"""Any value at any place of a valid deployment: parse_deployment returns or raises ConfigError, nothing
else (a TypeError from sorting mixed keys, an OverflowError from a huge number, ...)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.config import ConfigError, parse_deployment

GOOD: dict[str, Any] = {
    "EndpointName": "ep",
    "InferenceExecutionConfig": {"Mode": "Direct"},
    "Containers": [{"ContainerHostname": "a", "Image": "process", "ModelDataUrl": "/m", "Environment": {"A": "1"}}],
    "Coserve": {
        "Containers": {"a": {"Command": ["x"], "Memory": "64MiB", "Cpus": 1, "CpuWeight": 5, "Pids": 64}},
        "Defaults": {"Memory": "1GiB"},
        "Server": {"Workers": 1, "StopGrace": "1s", "LogDir": "/tmp/x", "MaxPayload": "6MiB"},
        "Storage": {"CacheDir": "/tmp/c", "S3EndpointUrl": "http://127.0.0.1:1"},
        "Metrics": {"Emf": {"Path": "-", "Interval": "60s"}},
        "Auth": {"Principals": [{"AccessKeyId": "AKIDX", "SecretAccessKey": "s", "Policies": []}]},
    },
}
LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(["1.5", ".inf", "9" * 40, "64MiB", "-1s", "\0", "1e999"]),
)  # fmt: skip
VALUE = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


PLACES = list(_paths(GOOD))


@settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.sampled_from(PLACES), VALUE)
def test_any_value_anywhere_is_a_config_error_or_accepted(place: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    parent = doc
    for key in place[:-1]:
        parent = parent[key]
    parent[place[-1]] = value
    try:
        parse_deployment(doc)
    except ConfigError as exc:
        assert all(len(line) < 1000 for line in exc.problems)
