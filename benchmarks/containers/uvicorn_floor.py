"""The overhead benchmark's floor: uvicorn with the front door's protocol class and options, and no proxying.

It answers `POST /invocations` with the body it received (1 KB), as the echo container does, through the same
HTTP server coserve's front door runs (uvicorn, uvloop, httptools, `runtime.router.protocol`'s limits). What it
costs per request is what the front door costs before it does any of its own work.

    python benchmarks/containers/uvicorn_floor.py PORT
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's runtime

from runtime.router.protocol import ConnectionLimits, protocol_class

HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = (await receive())["body"]
    await send({"type": "http.response.start", "status": 200,
                "headers": [*HEADERS, (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, lifespan="off",
                loop="uvloop", http=protocol_class(ConnectionLimits()), proxy_headers=False,  # type: ignore[arg-type]
                server_header=False)  # fmt: skip
