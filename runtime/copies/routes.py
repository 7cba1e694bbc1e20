"""The components' part of the routing table: per component-hosting endpoint, each component's copies.

An endpoint hosts components when its variant names no model, so it has no containers of its own: its
EndpointTable gets `components` (possibly empty), which is how the router tells it from a model endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from runtime.components.spec import SpecError, timeouts
from runtime.control.icstore import Component
from runtime.copies.copies import Copies
from runtime.routing import ComponentTable, ContainerRoute, HostTable
from runtime.supervisor import Supervisor


def decorate(base: HostTable, rows: Sequence[Component], held: Mapping[str, Copies], supervisor: Supervisor,
             startup_s: float) -> HostTable:  # fmt: skip
    endpoints = []
    for e in base.endpoints:
        if e.routes:
            endpoints.append(e)
            continue
        mine = tuple(_component(c, held.get(c.name.lower()), supervisor, startup_s)
                     for c in rows if c.endpoint.lower() == e.name.lower() and c.status != "Deleting")  # fmt: skip
        endpoints.append(replace(e, components=mine))
    return HostTable(tuple(endpoints), base.version, base.default)


def _component(c: Component, h: Copies | None, supervisor: Supervisor, startup_s: float) -> ComponentTable:
    routes = tuple(
        ContainerRoute(r.hostname, r.port, r.state.value, str(r.log_path)) for r in supervisor.routes(h.live)
    ) if h is not None else ()  # fmt: skip
    try:
        idle_s, wake_s = timeouts({t["Key"]: t["Value"] for t in c.tags}, startup_s)
    except SpecError:
        idle_s, wake_s = None, startup_s
    return ComponentTable(c.name, routes, c.desired, wake_s if idle_s is not None else None,
                          h.short if h is not None else None)  # fmt: skip
