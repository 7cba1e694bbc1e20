"""Which endpoint a router process counts for: the labels of its series, resolved once by the composition root
and handed to gunicorn workers in the run directory's settings file (runtime.rundir)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.config import Deployment


@dataclass(frozen=True)
class EndpointLabels:
    endpoint: str
    variant: str
    mode: str  # Direct | Serial
    hostnames: tuple[str, ...]  # every container's series exists from the start, at 0: absent is not zero

    @classmethod
    def of(cls, d: Deployment) -> EndpointLabels:
        return cls(d.endpoint_name, d.variant_name, d.mode, tuple(c.hostname for c in d.containers))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> EndpointLabels:
        return cls(doc["endpoint"], doc["variant"], doc["mode"], tuple(doc["hostnames"]))
