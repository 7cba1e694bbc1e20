"""The router's wait for a deployment-file container that idled (runtime.router.components): a container that
stays IDLE past its WakeTimeout is ServiceUnavailable naming it, and the wake was asked for through the signal
file. The table is published by hand here, as the supervisor side would; no container runs (none is needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.components.signals import Signals
from runtime.errors import ServiceUnavailable
from runtime.router.components import ComponentRouter
from runtime.routing import IDLE, ContainerRoute, EndpointTable, HostTable, TableSource


def test_a_container_that_does_not_wake_in_time_is_service_unavailable_naming_it(tmp_path: Path) -> None:
    asleep = ContainerRoute("sleepy", 1, IDLE, "log", wake_s=0.2)
    endpoint = EndpointTable("e", "AllTraffic", "Direct", (asleep,))
    signals = Signals(tmp_path)
    router = ComponentRouter(TableSource(HostTable((endpoint,))), signals)
    answer = asyncio.run(router.containers(endpoint, (asleep,)))
    assert isinstance(answer, ServiceUnavailable)
    assert "sleepy" in answer.message and "0.2s" in answer.message
    assert signals.take_wake("e.sleepy")  # the wake was asked for
    assert signals.last_seen("e.sleepy") is not None  # and the request seen
    assert (router.stats.waited, router.stats.timed_out) == (1, 1)


def test_a_running_container_passes_without_a_wait(tmp_path: Path) -> None:
    up = ContainerRoute("sleepy", 1, "RUNNING", "log", wake_s=5.0)
    endpoint = EndpointTable("e", "AllTraffic", "Direct", (up,))
    router = ComponentRouter(TableSource(HostTable((endpoint,))), Signals(tmp_path))
    assert asyncio.run(router.containers(endpoint, (up,))) == (up,)
    assert router.stats.waited == 0
