"""The front door's settings, resolved once by the composition root: what every router process needs and nothing
more. Written to the run directory (runtime.rundir, 0600: it holds auth secrets) for gunicorn workers, which
build the same app from it; no worker reads the deployment file, the CLI's flags or coserve's environment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runtime.auth.build import resolve_auth
from runtime.config import Deployment
from runtime.metrics import EndpointLabels
from runtime.router import RouterSettings
from runtime.router.protocol import ConnectionLimits

# Per request, uvicorn's X-Forwarded-* middleware is one more ASGI layer (nothing here reads the client address),
# and its `server: uvicorn` header two more regex checks and bytes on every answer: both off, in every process.
SERVER_OPTIONS: dict[str, object] = {"proxy_headers": False, "server_header": False}


def router_settings(d: Deployment) -> RouterSettings:
    s = d.server
    return RouterSettings(timeout_s=s.invocation_timeout_s, max_payload=s.max_payload_bytes,
                          max_response=s.max_response_bytes, max_in_flight=s.max_in_flight,
                          first_byte_timeout_s=s.stream_first_byte_timeout_s,
                          chunk_timeout_s=s.stream_chunk_timeout_s)  # fmt: skip


def connection_limits(d: Deployment) -> ConnectionLimits:
    s = d.server
    return ConnectionLimits(max_header_bytes=s.max_header_bytes, max_headers=s.max_headers,
                            header_timeout_s=s.header_timeout_s, body_timeout_s=s.body_timeout_s,
                            max_connections=s.max_connections)  # fmt: skip


@dataclass(frozen=True)
class FrontSettings:
    router: RouterSettings
    limits: ConnectionLimits
    labels: EndpointLabels  # the metrics' endpoint, variant and containers
    keep_alive_s: float
    drain_timeout_s: float
    workers: int  # 1: uvicorn in the supervisor's process; more: gunicorn with that many workers
    status_listen: str | None  # Coserve.Server.StatusListen
    auth: dict[str, Any] | None = None  # Coserve.Auth with its secrets inline (runtime.auth.build.resolve_auth)
    state_dir: str | None = None  # the control plane's SQLite state (runtime.control.store)

    @classmethod
    def of(cls, d: Deployment, state_dir: Path | None = None) -> FrontSettings:
        s = d.server
        auth = resolve_auth(d.auth, d.source.parent if d.source else None) if d.auth is not None else None
        return cls(router_settings(d), connection_limits(d), EndpointLabels.of(d), s.keep_alive_s,
                   s.drain_timeout_s, s.workers, s.status_listen, auth,
                   str(state_dir) if state_dir is not None else None)  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FrontSettings:
        doc = json.loads(text)
        return cls(**{**doc, "router": RouterSettings(**doc["router"]), "limits": ConnectionLimits(**doc["limits"]),
                      "labels": EndpointLabels.from_dict(doc["labels"])})  # fmt: skip

    @classmethod
    def read(cls, path: Path) -> FrontSettings:
        return cls.from_json(path.read_text(encoding="utf-8"))
