"""A fast bring-your-own container for the overhead benchmark: asyncio + httptools, stdlib otherwise.

`POST /invocations` answers the JSON body it received, byte for byte; `GET /ping` answers 200. It does as
little as an HTTP/1.1 keep-alive server can, so the front door's cost is what the benchmark sees. It runs
on uvloop when installed, as uvicorn would.
"""

from __future__ import annotations

import asyncio
import os
from typing import cast

import httptools

_HEAD = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


class Echo(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        method = self.parser.get_method()
        if method == b"GET" and self.url == b"/ping":
            self.transport.write(_HEAD % (200, b"OK", 0))
        elif method == b"POST" and self.url == b"/invocations":
            body = b"".join(self.body)
            self.transport.write(_HEAD % (200, b"OK", len(body)) + body)
        else:
            self.transport.write(_HEAD % (404, b"Not Found", 0))
        self.url, self.body = b"", []


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", port, backlog=1024)
    print(f"fast_echo: listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port))
    else:
        uvloop.run(serve(port))


if __name__ == "__main__":
    main()
