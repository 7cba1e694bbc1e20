"""Choosing the isolation backend for this host, once at start."""

from __future__ import annotations

from runtime.config import Deployment
from runtime.supervisor.isolation import Isolation, ProcessGroupOnly


def choose_isolation(d: Deployment) -> Isolation:
    return ProcessGroupOnly()
