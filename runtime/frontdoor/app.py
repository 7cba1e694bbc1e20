"""The one place the front door's ASGI app is built, from resolved settings and the published routing table:
by the supervisor's process with one router, and by each gunicorn worker from what the supervisor published."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.asyncinv import AsyncInvocations, AsyncQueue, BacklogCollector, make_async_guard, store_lookup
from runtime.auth.authenticator import Authenticator
from runtime.auth.build import build_authenticator
from runtime.components import capacity
from runtime.components.metrics import WaitMetrics, WakeCollector
from runtime.components.signals import Signals
from runtime.control.api import ControlPlane
from runtime.control.arns import Arns
from runtime.control.authz import SigV4Guard
from runtime.control.context import Context
from runtime.control.store import Store
from runtime.frontdoor.settings import FrontSettings
from runtime.metrics import RouterMetrics
from runtime.router import Router, build_app
from runtime.router.app import FrontDoorApp
from runtime.router.components import ComponentRouter
from runtime.router.guard import make_guard, make_page_guard
from runtime.routing import TableSource


def build_front_app(settings: FrontSettings, table: TableSource, metrics: RouterMetrics,
                    on_queued: Callable[[], None] | None = None) -> FrontDoorApp:  # fmt: skip
    """InvokeEndpoint(WithResponseStream), /ping, /metrics and /coserve/status, signed where Coserve.Auth is set.

    `table` is the supervisor's own holder or a follower of its file; `metrics` counts this process's requests.
    """
    auth = build_authenticator(settings.auth, None) if settings.auth is not None else None  # secrets are inline
    requests = metrics.start()
    signals = Signals(Path(settings.state_dir) / "components") if settings.state_dir is not None else None
    waits = WaitMetrics(metrics.registry)
    if signals is not None:
        metrics.exposed.register(WakeCollector(signals.folder))  # wakes, evictions, time to wake
    components = ComponentRouter(table, signals, waits.observe)
    router = Router(table, settings.router, make_guard(auth), requests.observe, components)
    control = asynchronous = None
    if settings.state_dir is not None:
        store = Store(Path(settings.state_dir)).open()
        control = control_plane(store, auth)
        queue = AsyncQueue(store.path).open()  # the control plane's file, in tables of its own
        metrics.exposed.register(BacklogCollector(queue))  # ApproximateBacklogSize, …AgeOfOldestRequest
        asynchronous = AsyncInvocations(queue, store_lookup(store), on_queued, make_async_guard(auth))
    pages = metrics.routes(make_page_guard(auth, settings.labels.endpoint))
    return build_app(router, pages, requests, control, asynchronous)


def control_plane(store: Store, auth: Authenticator | None) -> ControlPlane:
    """SageMaker's control plane (`POST /` with X-Amz-Target) over the state in `store`: each router process
    opens the same SQLite file; the supervisor's reconciler acts on what they write."""
    arns = Arns(auth.region, auth.account) if auth is not None else Arns()
    context = Context(store, arns=arns, capacity=lambda: capacity.read(store.state_dir))
    return ControlPlane(context, guard=SigV4Guard(auth) if auth is not None else None).load()
