"""The upstream client: pooled keep-alive connections to containers on 127.0.0.1.

A bare asyncio protocol with httptools' response parser, not a general HTTP client: every upstream is a
container on loopback answering `POST /invocations`, so a request is one write and an answer one parse.
aiohttp's client cost about 40% of the front door's CPU per request here, httpx's ten times more
(benchmarks/overhead.py, DESIGN.md's measurements).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from runtime.errors import ModelError
from runtime.router import memory
from runtime.routing import ContainerRoute


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: CIMultiDictProxy[str]
    seconds: float  # time spent waiting on the container


class Truncated(ConnectionError):
    """The container closed the connection before the end of the answer it had announced."""

    def __init__(self, status: int, received: int, declared: str) -> None:
        super().__init__(f"the container closed the connection after {received} bytes of a {declared} answer")
        self.status = status


class TooLarge(Exception):
    """The container's answer is longer than MaxResponse: the connection is dropped, the rest never read."""

    def __init__(self, status: int, size: int, limit: int) -> None:
        super().__init__(f"answer of at least {size} bytes, over the limit of {limit} bytes")
        self.status, self.size, self.limit = status, size, limit


def declared_length(headers: Mapping[str, str]) -> str | None:
    """How an answer announced its end ("chunked", "<n>-byte"), or None when only the close ends it: a close before
    an announced end cuts the answer (Truncated)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return "chunked"
    length = headers.get("Content-Length")
    return f"{length}-byte" if length is not None else None


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer parsed as it arrives."""

    def __init__(self, limit: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.limit = limit  # MaxResponse: the most body bytes kept of one answer
        self.waiter: asyncio.Future[tuple[int, bytes, CIMultiDict[str]]] | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.closed = False
        self.lost: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's
        self.loop = asyncio.get_running_loop()  # kept: on 3.11 each lookup of the running loop is a getpid()
        self.lost = self.loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is None or self.waiter.done():
            return
        if not self.headers_done:
            self._fail(ConnectionResetError("the container closed the connection"))
        elif declared := declared_length(
            self.headers
        ):  # a length or chunks were announced: closing early cuts the answer
            self._fail(Truncated(self.parser.get_status_code(), self.size, declared))
        else:  # an answer delimited by the connection's close (no Content-Length, not chunked)
            self._finish(self.parser.get_status_code())

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionResetError(f"malformed answer: {exc}"))
            self.abort()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.limit:  # refused before a byte of it is read
            self._too_large(int(length))

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size >= memory.LARGE:
            memory.note(self.size)
        if self.size > self.limit:
            self._too_large(self.size)
        else:
            self.body.append(body)

    def _too_large(self, size: int) -> None:
        self._fail(TooLarge(self.parser.get_status_code(), size, self.limit))
        self.abort()  # the rest of the answer is never read

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.closed = True  # answered, then closed: never reuse it
        self._finish(self.parser.get_status_code())

    def _finish(self, status: int) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, b"".join(self.body), self.headers))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes, CIMultiDict[str]]]:
        assert self.transport is not None
        self.headers, self.body, self.size, self.headers_done = CIMultiDict(), [], 0, False
        self.waiter = self.loop.create_future()
        self.transport.write(request)
        return self.waiter

    def expire(self) -> None:
        """InvocationTimeout passed with no complete answer (a timer calls this; a no-op once answered)."""
        self._fail(TimeoutError())

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Upstream:
    def __init__(self, max_response: int = 6 * 2**20) -> None:
        self.max_response = max_response
        self._idle: dict[int, list[_Connection]] = {}

    def _pooled(self, port: int) -> _Connection | None:
        idle = self._idle.get(port)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self, port: int, seconds: float) -> _Connection:
        async with asyncio.timeout(seconds):
            _, conn = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self.max_response), "127.0.0.1", port
            )
        return conn

    async def call(self, route: ContainerRoute, body: bytes, headers: Mapping[str, str],
                   seconds: float) -> Answer | ModelError:  # fmt: skip
        """POST /invocations to one container: its answer, or a reset, a timeout or an oversize answer as the
        ModelError naming it (returned, not raised: it is an outcome of the request, not a fault of coserve's)."""
        started = time.perf_counter()
        # Containers see the client's headers and no defaults of ours beyond Host and Content-Length.
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{route.port}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
        ).encode("latin-1") + body
        conn: _Connection | None = None
        timer: asyncio.TimerHandle | None = None
        try:
            conn = self._pooled(route.port) or await self._connect(route.port, seconds)
            waiter = conn.send(request)
            # One timer handle per request: asyncio.timeout() adds an object, a task lookup and a reschedule.
            timer = conn.loop.call_at(conn.loop.time() + seconds - (time.perf_counter() - started), conn.expire)
            status, data, answer_headers = await waiter
        except (OSError, TooLarge) as exc:  # TimeoutError and Truncated are OSErrors
            if conn is not None:
                conn.abort()  # a late or cut answer must not be read as the next request's
            return failure(route, exc, seconds)
        except BaseException:  # cancelled (the client went away): the answer would land on the next request
            if conn is not None:
                conn.abort()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not conn.closed:
            self._idle.setdefault(route.port, []).append(conn)
        return Answer(status, data, CIMultiDictProxy(answer_headers), time.perf_counter() - started)

    async def close(self) -> None:
        """Close every pooled connection and wait until each socket is closed (no ResourceWarning after)."""
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for conn in conns:
            conn.abort()
        await asyncio.gather(*(c.lost for c in conns if c.lost is not None))


def model_error(route: ContainerRoute, answer: Answer) -> ModelError:
    """A container's non-2xx answer in SageMaker's words, with its body as OriginalMessage."""
    kind = "client" if 400 <= answer.status < 500 else "server"
    text = answer.body.decode("utf-8", errors="replace")[:2048]
    return ModelError(
        f'Received {kind} error ({answer.status}) from {route.hostname} with message "{text}". '
        f"See {route.log_path} for more information.",
        ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL", OriginalStatusCode=answer.status,
        OriginalMessage=text, LogStreamArn=route.log_path,
    )  # fmt: skip


def failure(route: ContainerRoute, exc: BaseException, seconds: float, setting: str = "") -> ModelError:
    """A container that did not answer in full (a timeout, a cut-off or oversize answer, a failed connection),
    in SageMaker's words: one wording for InvokeEndpoint and for a stream before its first byte. `setting`
    names the Coserve.Server setting that timed out, where it is not InvocationTimeout."""
    log = route.log_path
    if isinstance(exc, TimeoutError):
        return ModelError(
            f"Your invocation timed out while waiting for a response from container {route.hostname}. "
            f"Review the latency of the container, resolve the issue, and try again. See {log}.",
            OriginalStatusCode=504, OriginalMessage=f"no response within {seconds:g}s{setting}", LogStreamArn=log,
        )  # fmt: skip
    if isinstance(exc, Truncated):
        return ModelError(
            f"Received server error ({exc.status}) from {route.hostname} and could not load the entire "
            f"response body: {exc}. See {log} for more information.",
            OriginalStatusCode=502, OriginalMessage=str(exc), LogStreamArn=log,
        )  # fmt: skip
    if isinstance(exc, TooLarge):
        return ModelError(
            f"Received response from {route.hostname} with status code {exc.status}. However, the response "
            f"body is {exc.size} bytes or more, which has exceeded the maximum limit of {exc.limit} bytes "
            f"(Coserve.Server.MaxResponse). See {log} for more information.",
            OriginalStatusCode=exc.status, OriginalMessage=str(exc), LogStreamArn=log,
        )  # fmt: skip
    return ModelError(
        f'Received server error (0) from {route.hostname} with message "connection failed: {exc}". '
        f"See {log} for more information.",
        OriginalStatusCode=502, OriginalMessage=f"connection failed: {exc}"[:2048], LogStreamArn=log,
    )  # fmt: skip
