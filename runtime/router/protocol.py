"""The front door's HTTP/1.1 connections: uvicorn's httptools protocol, plus the limits an exposed server needs.

uvicorn's httptools protocol bounds neither the size nor the number of a request's headers, nor the time a
client may take to send them or its body, nor the number of connections (its `limit_concurrency` answers
plain text, after parsing the headers). Here:
- the request head (line and headers) is counted in `data_received`, one addition per read, and no more than
  `max_header_bytes` of it ever reaches the parser (httptools joins a header's pieces as they arrive, so its
  cost grew with the square of one header's length); the header count is checked once, at the head's end;
- deadlines are two floats per request, read by one sweep per process every `SWEEP_S`: a timer per request
  would cost a `call_later` and a `cancel` on the hot path;
- a refusal is written in SageMaker's error shape, then the connection is half-closed and drained for a
  moment, so the client reads the answer instead of a reset caused by the bytes it had still in flight;
- an answer with a Content-Length leaves in one write: uvicorn writes the head and the body separately, and on
  loopback each write is a syscall that also delivers the segment to the reader (`_OneWrite`).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runtime.errors import (
    RequestHeaderFieldsTooLarge,
    RequestTimeout,
    SageMakerError,
    ServiceUnavailable,
    ValidationError,
)
from runtime.router.memory import release_free_memory

SWEEP_S = 0.5  # deadlines are enforced to within this
LINGER_S = 1.0  # after a refusal, how long the rest of the client's bytes are read and dropped


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int = 16 * 2**10
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the refusal itself is on the protocol."""


class LimitedProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    _sweeps: ClassVar[dict[int, asyncio.TimerHandle]] = {}  # one sweep per server (its set of connections)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_bytes = 0  # bytes of the current request's head read so far
        self.in_head = True
        self.deadline = math.inf  # loop time by which the current phase must end
        self.phase = "headers"
        self.refusal: SageMakerError | None = None
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_sweep()
        if len(self.connections) > self.limits.max_connections:
            self.refuse(ServiceUnavailable(f"The front door has reached its limit of {self.limits.max_connections} "
                                           "open connections (Coserve.Server.MaxConnections). Try again."))  # fmt: skip
            return
        self.deadline = self.loop.time() + self.limits.header_timeout_s  # a connection that sends nothing ends

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # lingering: read and dropped
        self._unset_keepalive_if_required()
        if self.in_head and self.head_bytes + len(data) <= self.limits.max_header_bytes:
            self.head_bytes += len(data)  # the common case: the whole head fits
        elif self.in_head:  # the head may end inside this read: parse only what the limit allows
            room = self.limits.max_header_bytes - self.head_bytes
            self.head_bytes += len(data)
            if not self._feed(data[:room]):
                return
            if self.in_head:
                self.refuse(RequestHeaderFieldsTooLarge(
                    f"The request line and headers exceed {self.limits.max_header_bytes} bytes "
                    "(Coserve.Server.MaxHeaderSize)."))  # fmt: skip
                return
            data = data[room:]
        self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """Parse; False when the request was refused (the connection is closing)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse(ValidationError("Protocol upgrades are not supported."))
        except httptools.HttpParserError:
            self.refuse(self.refusal or ValidationError("Invalid HTTP request received."))
        return not self.refused

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.phase = "headers"
        self.deadline = self.loop.time() + self.limits.header_timeout_s

    def on_headers_complete(self) -> None:
        # Counted once here, not in on_header (a call per header): MaxHeaderSize already bounds the parser's work.
        if len(self.headers) > self.limits.max_headers:
            self.refusal = RequestHeaderFieldsTooLarge(
                f"The request has more than {self.limits.max_headers} header fields (Coserve.Server.MaxHeaders)."
            )
            raise _Refused
        self.in_head, self.phase = False, "body"
        self.deadline = self.loop.time() + self.limits.body_timeout_s
        cycle = self.cycle
        super().on_headers_complete()
        if self.cycle is not cycle and self.cycle is not None:  # a new request's cycle: its writes go through us
            self.cycle.transport = _OneWrite(self.transport, self.cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self.deadline = math.inf  # answering is InvocationTimeout's business; idling is KeepAlive's
        self.in_head, self.head_bytes = True, 0  # the next bytes on this connection start the next head
        super().on_message_complete()

    def refuse(self, error: SageMakerError) -> None:
        """Answer `error` unless an answer is under way; then half-close, drain for LINGER_S and close."""
        if self.refused:
            return
        self.refused = True
        cycle = self.cycle
        ours = cycle is not None and self.phase == "body"  # in the head phase a cycle is the previous request's
        if cycle is not None and not cycle.response_complete and (not ours or cycle.response_started):
            cycle.keep_alive = False  # an answer is being made or sent: the connection ends after it
            self.deadline = math.inf
            return
        if not (ours and cycle is not None and cycle.response_started):
            self.transport.write(_render(error))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.deadline = self.loop.time() + LINGER_S
        self.phase = "linger"

    def eof_received(self) -> None:
        if self.refused:
            self.transport.close()

    def expire(self) -> None:
        if self.phase == "linger":
            self.transport.close()
            return
        if self.phase == "headers" and self.cycle is not None and not self.cycle.response_complete:
            self.deadline = self.loop.time() + self.limits.header_timeout_s  # pipelined: its turn has not come
            return
        what = "headers" if self.phase == "headers" else "body"
        seconds = self.limits.header_timeout_s if what == "headers" else self.limits.body_timeout_s
        setting = "HeaderTimeout" if what == "headers" else "BodyTimeout"
        self.refuse(RequestTimeout(f"The request's {what} did not arrive within {seconds:g}s "
                                   f"(Coserve.Server.{setting})."))  # fmt: skip

    def _start_sweep(self) -> None:
        key = id(self.connections)  # one per server: each uvicorn server has its own set
        if key not in self._sweeps:
            self._sweeps[key] = self.loop.call_later(SWEEP_S, _sweep, self.loop, self.connections)


class _OneWrite:
    """What a request's cycle sees as its transport: the response head is held back until the body's first
    bytes and both go out in one `writelines` (one writev). Only when a body is certain to follow the head:
    a Content-Length over 0, not HEAD; a chunked (streamed) answer's head goes out at once."""

    __slots__ = ("cycle", "head", "transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self.transport = transport
        self.cycle: Any = cycle  # uvicorn's RequestResponseCycle until its head is written (or held), then None
        self.head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.transport.writelines((head, data))
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:  # this is the head (a `100 Continue` comes before)
            self.cycle = None  # not needed past the head: no reference cycle left for the collector to find
            if (
                cycle.chunked_encoding is False
                and cycle.expected_content_length > 0
                and cycle.scope["method"] != "HEAD"
            ):
                self.head = data
                return
        self.transport.write(data)

    def close(self) -> None:
        if self.head is not None:  # the app stopped between head and body: uvicorn would have sent the head
            self.transport.write(self.head)
            self.head = None
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _render(error: SageMakerError) -> bytes:
    body = error.body()
    head = [f"HTTP/1.1 {error.status} {error.code}\r\n", *(f"{k}: {v}\r\n" for k, v in error.headers().items()),
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"]  # fmt: skip
    return "".join(head).encode("latin-1") + body


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
    """Expire every connection past its deadline, give freed memory back; runs for as long as the loop does."""
    release_free_memory()
    now = loop.time()
    for conn in list(connections):
        if isinstance(conn, LimitedProtocol) and conn.deadline <= now:
            conn.expire()
    LimitedProtocol._sweeps[id(connections)] = loop.call_later(SWEEP_S, _sweep, loop, connections)


def protocol_class(limits: ConnectionLimits) -> type[LimitedProtocol]:
    """A protocol class bound to these limits, for uvicorn's `Config(http=...)`."""
    return type("LimitedProtocol", (LimitedProtocol,), {"limits": limits})
