"""Who may invoke what: the hook where access control plugs into the front door."""

from __future__ import annotations

from runtime.config import Deployment
from runtime.router.app import Guard


def make_guard(d: Deployment) -> Guard | None:
    """No Coserve.Auth section: no guard (the front door then binds loopback unless told otherwise)."""
    return None
