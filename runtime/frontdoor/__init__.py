"""The front door: the process shape (uvicorn here, or gunicorn workers), its resolved settings, and the one
function that builds its ASGI app. Above the router and metrics, below the composition root (runtime.main)."""

from runtime.frontdoor.app import build_front_app
from runtime.frontdoor.door import FrontDoor, check_ports
from runtime.frontdoor.settings import FrontSettings, connection_limits, router_settings

__all__ = ["FrontDoor", "FrontSettings", "build_front_app", "check_ports", "connection_limits", "router_settings"]
