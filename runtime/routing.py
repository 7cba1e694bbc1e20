"""The routing table: the one thing the supervisor and the router share, read-only.

One host serves one or more endpoints: a HostTable holds an EndpointTable per endpoint (its variant, its
Direct or Serial mode and its containers' routes). A new table is published on every change through
runtime.published: in one process the router holds the object; each gunicorn worker follows the file that is
replaced atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from runtime.published import Published

IDLE = "IDLE"  # a container stopped for idleness (runtime.fleetidle): not a supervisor State; a request wakes it


@dataclass(frozen=True)
class ContainerRoute:
    """Where one container of an endpoint answers, and whether it takes requests."""

    hostname: str
    port: int  # SAGEMAKER_BIND_TO_PORT on 127.0.0.1
    state: str  # a supervisor State's value; only RUNNING takes requests
    log_path: str  # the container's log, reported as LogStreamArn
    wake_s: float | None = None  # it idles (IdleTimeout): a request finding it IDLE wakes it and waits this long

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


@dataclass(frozen=True)
class ComponentTable:
    """One inference component on an endpoint: its copies, and what a request finds when none runs."""

    name: str
    routes: tuple[ContainerRoute, ...]  # its copies, each its own container
    desired: int  # CopyCount: 0 answers "no capacity"
    wake_s: float | None = None  # scaled to zero when idle: a request wakes it and waits this long; None: no wake
    short: str | None = None  # why the last wake could not start a copy (admission's words)


@dataclass(frozen=True)
class EndpointTable:
    """One endpoint as the router sees it."""

    name: str  # EndpointName as created; requests match it case-insensitively
    variant: str  # reported as x-Amzn-Invoked-Production-Variant
    mode: str  # Direct | Serial
    routes: tuple[ContainerRoute, ...]  # in Containers order, which is the Serial chain's order
    components: tuple[ComponentTable, ...] | None = None  # None: it runs a model; else it hosts these

    def component(self, name: str) -> ComponentTable | None:
        return next((c for c in self.components or () if c.name.lower() == name.lower()), None)

    def route(self, hostname: str) -> ContainerRoute | None:
        return next((r for r in self.routes if r.hostname == hostname), None)

    def not_running(self) -> list[ContainerRoute]:
        """Its containers that can take no request now; an idle one is not among them, a request wakes it."""
        return [r for r in self.routes if not r.running and r.state != IDLE]


@dataclass(frozen=True)
class HostTable:
    """Every endpoint this host serves. `default`: the endpoint bare `/invocations` (the container contract's
    path, which names none) goes to when the host serves several; with one endpoint it goes to that one."""

    endpoints: tuple[EndpointTable, ...]
    version: int = 0
    default: str | None = None
    # Built once per table, not per request: lowercased name -> endpoint.
    _by_name: dict[str, EndpointTable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {e.name.lower(): e for e in self.endpoints})

    def endpoint(self, name: str) -> EndpointTable | None:
        """The endpoint named `name`, compared case-insensitively as SageMaker does."""
        return self._by_name.get(name.lower())

    def bare(self) -> EndpointTable | None:
        """Where bare `/invocations` goes: the only endpoint, else `default`; None when neither says."""
        if len(self.endpoints) == 1:
            return self.endpoints[0]
        return self._by_name.get(self.default.lower()) if self.default is not None else None

    def not_running(self) -> dict[str, list[ContainerRoute]]:
        """Per endpoint with any, its containers that are not RUNNING."""
        return {e.name: down for e in self.endpoints if (down := e.not_running())}

    def to_json(self) -> str:
        doc = {"endpoints": [asdict(e) for e in self.endpoints], "version": self.version, "default": self.default}
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> HostTable:
        doc = json.loads(text)
        endpoints = tuple(
            EndpointTable(e["name"], e["variant"], e["mode"], tuple(ContainerRoute(**r) for r in e["routes"]),
                          _components(e.get("components")))
            for e in doc["endpoints"]
        )  # fmt: skip
        return cls(endpoints, doc["version"], doc.get("default"))


def _components(docs: list[dict[str, Any]] | None) -> tuple[ComponentTable, ...] | None:
    if docs is None:
        return None
    return tuple(ComponentTable(**{**c, "routes": tuple(ContainerRoute(**r) for r in c["routes"])}) for c in docs)


# Where the router gets the current table: the supervisor's own object in one process, else routes.json in the
# run directory (runtime.rundir), which is replaced atomically (runtime.published).
TableSource = Published[HostTable]
