"""Fetch -> verify -> cache -> unpack ModelDataUrl artifacts; no knowledge of processes.

The store (and boto3 with it) loads on first use, so runtime.config can hold `StorageSettings` without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.storage.settings import ArtifactError, StorageSettings

if TYPE_CHECKING:
    from runtime.storage.store import ArtifactStore, StoreStats

__all__ = ["ArtifactError", "ArtifactStore", "StorageSettings", "StoreStats"]


def __getattr__(name: str) -> Any:
    if name in ("ArtifactStore", "StoreStats"):
        from runtime.storage import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
