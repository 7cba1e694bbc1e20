"""Adapters: one module per model server, small and declarative."""

from __future__ import annotations

from adapters.base import Adapter, Launch
from adapters.process import ProcessAdapter

__all__ = ["Adapter", "Launch", "get_adapter", "resolve_image"]

_ADAPTERS: dict[str, Adapter] = {"process": ProcessAdapter()}


def resolve_image(image: str) -> Adapter | None:
    """The adapter that serves an `Image` value, or None when coserve has none for it."""
    return _ADAPTERS.get(image)


def get_adapter(name: str) -> Adapter:
    return _ADAPTERS[name]
