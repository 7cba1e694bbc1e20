"""Any body at all gets SageMaker's error shape, never an internal failure (the hostile-input rule)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.control.api import ControlPlane
from runtime.control.context import Context
from runtime.control.store import Store
from tests.runtime.control.helpers import config, model

KEYS = st.sampled_from([
    "ModelName", "PrimaryContainer", "Containers", "Image", "ModelDataUrl", "Environment", "ContainerHostname",
    "InferenceExecutionConfig", "Mode", "EndpointConfigName", "ProductionVariants", "VariantName",
    "InitialInstanceCount", "EndpointName", "Tags", "Key", "Value", "MaxResults", "NextToken", "SortBy",
    "CreationTimeBefore", "x",
])  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)
OPERATIONS = st.sampled_from(["CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint",
                              "ListModels", "ListEndpoints", "DescribeEndpoint", "DeleteModel"])  # fmt: skip


def _scope(operation: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"x-amz-target", f"SageMaker.{operation}".encode())],
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operation=OPERATIONS, body=JSON, base=st.sampled_from([{}, model("m1"), config("c1")]))
def test_no_body_is_an_internal_failure(tmp_path: Path, operation: str, body: Any, base: dict[str, Any]) -> None:
    store = Store(tmp_path / "fuzz").open()
    try:
        plane = _plane(store)
        doc = {**base, **body} if isinstance(body, dict) else body
        status, _, answer = asyncio.run(plane.handle(_scope(operation), json.dumps(doc).encode()))
        reply = json.loads(answer)
        assert status in (200, 400), reply
        assert status == 200 or (
            reply["__type"] in ("ValidationException", "SerializationException") and reply["message"]
        )
    finally:
        store.close()


_PLANES: dict[int, ControlPlane] = {}


def _plane(store: Store) -> ControlPlane:
    """A fresh ControlPlane per store, sharing one loaded service model (loading it takes a while)."""
    shared = _PLANES.get(0)
    plane = ControlPlane(Context(store))
    if shared is None:
        _PLANES[0] = plane.load()
    else:
        plane.wire = shared.wire
    return plane
