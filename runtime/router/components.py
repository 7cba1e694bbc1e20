"""Which copy of an inference component takes a request, and the wait for a component that is waking.

Least outstanding requests (SageMaker's default RoutingConfig for components) by this process's in-flight
counts per port; ties are broken at random, so equal copies share the load rather than the first taking it.
A component scaled to zero by idleness is woken (runtime.components.signals) and the request held until a copy
runs, polling the published table, bounded by its WakeTimeout; concurrent requests share the one wake. A
deployment-file container with an IdleTimeout (runtime.fleetidle) is seen, woken and waited for the same way.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping

from runtime.components.signals import Signals, container_signal
from runtime.components.stats import WaitStats
from runtime.errors import SageMakerError, ServiceUnavailable, ValidationError
from runtime.routing import IDLE, ComponentTable, ContainerRoute, EndpointTable, TableSource

POLL_S = 0.02
SHORT_GRACE_S = 0.5  # a shortage published before this wake was taken is an earlier wake's: look past it
NO_CAPACITY = ValidationError(
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress "
    "(if configured) or try to increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API."
)
NOT_A_HOST = ValidationError(
    "Inference Component Name header is not allowed for endpoints to which you dont plan to deploy "
    "inference components. Please remove the Inference Component Name header and try again."
)


Pick = Callable[[list[ContainerRoute]], ContainerRoute]


def least_outstanding(routes: tuple[ContainerRoute, ...], counts: Mapping[int, int],
                      pick: Pick = random.choice) -> ContainerRoute | None:  # fmt: skip
    """The RUNNING copy with the fewest requests in flight; among equals, `pick`'s (random by default)."""
    running = [r for r in routes if r.running]
    if not running:
        return None
    fewest = min(counts.get(r.port, 0) for r in running)
    return pick([r for r in running if counts.get(r.port, 0) == fewest])


class ComponentRouter:
    def __init__(self, source: TableSource, signals: Signals | None,
                 observer: Callable[[str, float], None] | None = None) -> None:  # fmt: skip
        self.source = source
        self.signals = signals  # None: no state directory, so no wake (and no idleness to wake from)
        self.stats = WaitStats()
        self.observer = observer  # (woken | timed_out | short, seconds held) after each wait

    def check(self, endpoint: EndpointTable, name: str | None) -> ComponentTable | SageMakerError | None:
        """The component a request names; None for a model endpoint's request (no header); the refusal."""
        if endpoint.components is None:
            return NOT_A_HOST if name is not None else None
        if name is None:
            return ValidationError(
                "Inference Component Name header is required for endpoints to which you plan to deploy inference "
                "components. Please include Inference Component Name header or consider using SageMaker models."
            )
        found = endpoint.component(name)
        if found is None:
            return ValidationError(f"Inference Component {name} not found for endpoint {endpoint.name}.")
        return found

    async def route(self, endpoint: str, component: ComponentTable,
                    counts: Mapping[int, int]) -> ContainerRoute | SageMakerError:  # fmt: skip
        """A copy to call, waiting for a wake where the component sleeps; else the error to answer."""
        if self.signals is not None:
            self.signals.seen(component.name)
        chosen = least_outstanding(component.routes, counts)
        if chosen is not None:
            return chosen
        if component.desired == 0:
            return NO_CAPACITY
        if component.wake_s is None or self.signals is None:
            states = ", ".join(f"{r.hostname} is {r.state}" for r in component.routes) or "no copy is running"
            return ServiceUnavailable(f"Inference component {component.name} is not ready: {states}.")
        return await self._wait(endpoint, component, counts)

    async def _wait(self, endpoint: str, component: ComponentTable,
                    counts: Mapping[int, int]) -> ContainerRoute | SageMakerError:  # fmt: skip
        assert self.signals is not None and component.wake_s is not None
        self.stats.waited += 1
        started = time.monotonic()
        deadline = started + component.wake_s
        self.signals.wake(component.name)
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
                table = self.source.get().endpoint(endpoint)
                now = table.component(component.name) if table is not None else None
                if now is None:
                    return ValidationError(f"Inference Component {component.name} not found for endpoint {endpoint}.")
                if (chosen := least_outstanding(now.routes, counts)) is not None:
                    self._waited("woken", started)
                    return chosen
                if now.short is not None and time.monotonic() - started > SHORT_GRACE_S:
                    self._waited("short", started)
                    return ServiceUnavailable(f"Inference component {component.name} cannot wake: {now.short}")
                if not any(r.state in ("FETCHING", "STARTING", "BACKOFF") for r in now.routes):
                    self.signals.wake(component.name)  # not started yet (or stopped meanwhile): ask again
            self._waited("timed_out", started)
            return ServiceUnavailable(
                f"Inference component {component.name} did not wake within {component.wake_s:g}s "
                "(coserve:WakeTimeout). Try again."
            )
        finally:
            self.stats.wait_seconds += time.monotonic() - started

    async def containers(self, endpoint: EndpointTable, routes: tuple[ContainerRoute, ...]
                         ) -> tuple[ContainerRoute, ...] | SageMakerError:  # fmt: skip
        """The containers a model endpoint's request goes to, those of them that idled woken first."""
        if self.signals is None:
            return routes
        asleep = False
        for r in routes:  # a loop, no object made per request where nothing idles
            if r.wake_s is not None:
                self.signals.seen(container_signal(endpoint.name, r.hostname))
                asleep = asleep or r.state == IDLE
        return await self._wake_containers(endpoint.name, routes) if asleep else routes

    async def _wake_containers(self, endpoint: str, routes: tuple[ContainerRoute, ...]
                               ) -> tuple[ContainerRoute, ...] | SageMakerError:  # fmt: skip
        assert self.signals is not None
        self.stats.waited += 1
        started = time.monotonic()
        wake_s = max(r.wake_s or 0.0 for r in routes)
        hostnames = [r.hostname for r in routes]
        try:
            while True:
                for r in routes:  # asked again while still idle: a wake taken meanwhile was an older table's
                    if r.state == IDLE:
                        self.signals.wake(container_signal(endpoint, r.hostname))
                if time.monotonic() - started >= wake_s:
                    break
                await asyncio.sleep(POLL_S)
                table = self.source.get().endpoint(endpoint)
                found = [table.route(h) for h in hostnames] if table is not None else []
                now = tuple(r for r in found if r is not None)
                if len(now) != len(hostnames):
                    self._waited("timed_out", started)
                    return ServiceUnavailable(f"Endpoint {endpoint} changed while its containers woke. Try again.")
                routes = now
                if all(r.running for r in routes):
                    self._waited("woken", started)
                    return routes
            self._waited("timed_out", started)
            asleep = ", ".join(r.hostname for r in routes if not r.running)
            return ServiceUnavailable(
                f"Container {asleep} of endpoint {endpoint} did not wake within {wake_s:g}s "
                "(Coserve.Containers.<hostname>.WakeTimeout). Try again."
            )
        finally:
            self.stats.wait_seconds += time.monotonic() - started

    def _waited(self, outcome: str, started: float) -> None:
        if outcome == "woken":
            self.stats.woken += 1
        else:
            self.stats.timed_out += 1
        if self.observer is not None:
            self.observer(outcome, time.monotonic() - started)
