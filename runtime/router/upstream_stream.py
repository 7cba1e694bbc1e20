"""The upstream client's incremental mode: a container's answer read chunk by chunk, for response streaming.

Beside the buffered client in `upstream.py`, not inside it: that one is the InvokeEndpoint hot path. A stream
gets a connection of its own (not pooled: one connect on loopback is small beside a stream's life) and its
body comes out as it is parsed. Reading pauses while more than HIGH_WATER bytes wait for a slow client, so a
stream is never held whole in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from runtime.errors import ModelError
from runtime.router.upstream import Answer, Truncated, declared_length, failure, model_error
from runtime.routing import ContainerRoute

HIGH_WATER = 1 * 2**20  # bytes read from the container and not yet sent on


class StreamConnection(asyncio.Protocol):
    """One request, its answer's head as a future and its body as a queue of chunks."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        loop = asyncio.get_running_loop()
        self.head: asyncio.Future[tuple[int, CIMultiDict[str]]] = loop.create_future()
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.chunks: deque[bytes] = deque()
        self.queued = 0  # bytes in `chunks`
        self.received = 0  # body bytes parsed so far
        self.done = False  # the answer ended as announced
        self.error: ConnectionError | None = None
        self.wake = asyncio.Event()
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionResetError(f"malformed answer: {exc}"))
            self.abort()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if not self.head.done():
            self.head.set_result((self.parser.get_status_code(), self.headers))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.queued += len(body)
        self.received += len(body)
        self.wake.set()
        if self.queued > HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.done = True
        self.wake.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done:
            return
        if not self.head.done():
            self._fail(ConnectionResetError("the container closed the connection"))
        elif declared := declared_length(
            self.headers
        ):  # a length or chunks were announced: closing early cuts the answer
            self._fail(Truncated(self.parser.get_status_code(), self.received, declared))
        else:  # an answer delimited by the connection's close
            self.on_message_complete()

    def _fail(self, exc: ConnectionError) -> None:
        if not self.head.done():
            self.head.set_exception(exc)
        self.error = exc
        self.wake.set()

    async def next_chunk(self, seconds: float) -> bytes | None:
        """Everything received since the last call (at least one byte), or None at the answer's end.
        Raises TimeoutError when nothing comes within `seconds`, ConnectionError when the answer breaks."""
        async with asyncio.timeout(seconds):
            while not self.chunks and not self.done and self.error is None:
                self.wake.clear()
                await self.wake.wait()
        if self.chunks:
            data = b"".join(self.chunks)
            self.chunks.clear()
            self.queued = 0
            if self.paused and self.transport is not None:
                self.paused = False
                self.transport.resume_reading()
            return data
        if self.error is not None:
            raise self.error
        return None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_stream(
    route: ContainerRoute, body: bytes, headers: Mapping[str, str], seconds: float, max_error: int
) -> tuple[StreamConnection, Answer, bytes | None] | ModelError:
    """POST /invocations and wait for the answer's head and first bytes (or its end) within `seconds`.

    Returns the connection, the answer's head (its body empty) and the first chunk. Anything that goes wrong
    before then is returned as a ModelError in InvokeEndpoint's words, a non-2xx answer included (its body, up
    to `max_error` bytes, as OriginalMessage)."""
    started = time.perf_counter()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{route.port}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    ).encode("latin-1") + body
    conn: StreamConnection | None = None
    try:
        async with asyncio.timeout(seconds):
            _, conn = await asyncio.get_running_loop().create_connection(StreamConnection, "127.0.0.1", route.port)
            conn.transport.write(request)  # type: ignore[union-attr]
            status, answer_headers = await conn.head
            first = await conn.next_chunk(seconds)
            if not 200 <= status < 300:
                first = await _rest(conn, first, max_error, seconds)
    except BaseException as exc:
        if conn is not None:
            conn.abort()
        if isinstance(exc, OSError):  # TimeoutError and Truncated are OSErrors
            return failure(route, exc, seconds, " (Coserve.Server.StreamFirstByteTimeout)")
        raise
    answer = Answer(status, b"", CIMultiDictProxy(answer_headers), time.perf_counter() - started)
    if not 200 <= status < 300:
        conn.abort()
        return model_error(route, Answer(status, first or b"", answer.headers, answer.seconds))
    return conn, answer, first


async def _rest(conn: StreamConnection, first: bytes | None, limit: int, seconds: float) -> bytes:
    """An error answer's body, up to `limit` bytes (the rest is never read)."""
    parts = [first or b""]
    size = len(parts[0])
    while first is not None and size < limit:
        first = await conn.next_chunk(seconds)
        parts.append(first or b"")
        size += len(parts[-1])
    return b"".join(parts)[:limit]
