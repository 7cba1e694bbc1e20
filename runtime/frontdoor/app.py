"""The one place the front door's ASGI app is built, from resolved settings and the published routing table:
by the supervisor's process with one router, and by each gunicorn worker from what the supervisor published."""

from __future__ import annotations

from starlette.types import ASGIApp

from runtime.auth.build import build_authenticator
from runtime.frontdoor.settings import FrontSettings
from runtime.metrics import RouterMetrics
from runtime.router import Router, build_app
from runtime.router.guard import make_guard, make_page_guard
from runtime.routing import TableSource


def build_front_app(settings: FrontSettings, table: TableSource, metrics: RouterMetrics) -> ASGIApp:
    """InvokeEndpoint(WithResponseStream), /ping, /metrics and /coserve/status, signed where Coserve.Auth is set.

    `table` is the supervisor's own holder or a follower of its file; `metrics` counts this process's requests.
    """
    auth = build_authenticator(settings.auth, None) if settings.auth is not None else None  # secrets are inline
    requests = metrics.start()
    router = Router(table, settings.router, make_guard(auth), requests.observe)
    return build_app(router, metrics.routes(make_page_guard(auth, settings.labels.endpoint)), requests)
