"""The front door: routes InvokeEndpoint requests to containers over the shared routing table."""

from runtime.router.app import Router, RouterSettings, build_app

__all__ = ["Router", "RouterSettings", "build_app"]
