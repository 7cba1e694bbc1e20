"""Fetch -> verify -> cache -> unpack ModelDataUrl artifacts; no knowledge of processes."""

from runtime.storage.settings import ArtifactError, StorageSettings
from runtime.storage.store import ArtifactStore, StoreStats

__all__ = ["ArtifactError", "ArtifactStore", "StorageSettings", "StoreStats"]
