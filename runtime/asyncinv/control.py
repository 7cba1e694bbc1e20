"""The Lookup seam over the control plane's state store: an endpoint's AsyncInferenceConfig, as it serves now.

The config that serves is the endpoint's `running` snapshot; while it is Creating, the one it is being created
from (requests queue, and wait until it answers). An endpoint being deleted, or one that failed to be created,
is not found, as InvokeEndpoint answers for it.
"""

from __future__ import annotations

from runtime.asyncinv.config import AsyncConfig, EndpointNotFound, Lookup, from_endpoint_config
from runtime.control.state import StateStore


def store_lookup(store: StateStore) -> Lookup:
    """A Lookup reading `store` (an opened runtime.control StateStore) on each call: a few milliseconds of SQLite."""

    def lookup(name: str) -> AsyncConfig | None:
        endpoint = store.endpoint(name)
        if endpoint is None or endpoint.status == "Deleting":
            raise EndpointNotFound(name)
        serving = endpoint.running or (endpoint.target if endpoint.status == "Creating" else None)
        if serving is None:
            raise EndpointNotFound(name)
        return from_endpoint_config(serving.config)

    return lookup
