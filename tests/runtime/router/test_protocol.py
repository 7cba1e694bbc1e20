"""The front door's protocol holds an answer's head back to send it with the body (`_OneWrite`): what a client
reads is unchanged: a buffered answer whole, HEAD and `100 Continue` as before, a chunked answer's head at once.

A real uvicorn server on 127.0.0.1 with the front door's protocol class and a small ASGI app; raw socket clients.
(That the head and body leave in one writev is seen with strace, not asserted here: a client cannot tell.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn

from runtime.router.protocol import ConnectionLimits, protocol_class
from tests.support import free_port

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools

BODY = b"x" * 3000
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def _buffered(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else BODY})


def _serve(app: App, client: Callable[[int], Awaitable[None]]) -> None:
    async def main() -> None:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off",
                                http=protocol_class(ConnectionLimits()))  # type: ignore[arg-type]  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(10):
                while not server.started:  # noqa: ASYNC110  # uvicorn offers only this flag
                    await asyncio.sleep(0.01)
                await client(port)
        finally:
            server.should_exit = True
            await task

    asyncio.run(main())


async def _first_read(port: int, request: bytes) -> bytes:
    """The first read of a client blocked in recv() in another thread: it returns with whatever the first
    segment brought (a client on the server's own loop would only run once both writes were made)."""

    def blocking() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request)
            return s.recv(65536)

    return await asyncio.to_thread(blocking)


def test_an_answer_with_a_length_arrives_whole() -> None:
    async def client(port: int) -> None:
        data = await _first_read(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"content-length: 3000" in head.lower()
        assert body == BODY

    _serve(_buffered, client)


def test_head_and_continue_still_answered() -> None:
    async def client(port: int) -> None:
        data = await _first_read(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"\r\n\r\n")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"{}")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await reader.readexactly(len(BODY)) == BODY
        writer.close()
        await writer.wait_closed()

    _serve(_buffered, client)


def test_a_chunked_answer_head_is_not_held() -> None:
    release = asyncio.Event()

    async def streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await release.wait()  # the head must be on the wire before any body exists
        await send({"type": "http.response.body", "body": b"done"})

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        release.set()
        assert await reader.readuntil(b"0\r\n\r\n") == b"4\r\ndone\r\n0\r\n\r\n"
        writer.close()
        await writer.wait_closed()

    _serve(streamed, client)
