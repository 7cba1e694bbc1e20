"""The upstream client's incremental mode against a real server on loopback (asyncio's, in this process)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from runtime.errors import ModelError
from runtime.router import upstream_stream
from runtime.router.upstream_stream import open_stream
from runtime.routing import ContainerRoute

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]
MiB = 2**20


async def serve(write: Writer) -> tuple[asyncio.Server, ContainerRoute]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n{}")  # the request: head, and the 2-byte body the tests send
        try:
            await write(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client aborted, as a test meant it to
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, ContainerRoute("box", port, "RUNNING", "/logs/box.log")


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_a_slow_reader_pauses_the_container_instead_of_buffering_its_answer() -> None:
    async def main() -> None:
        async def write(w: asyncio.StreamWriter) -> None:
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(32):  # 32 MiB, far past the high-water mark
                w.write(chunked(b"x" * MiB))
                await w.drain()
            w.write(b"0\r\n\r\n")
            await w.drain()

        server, route = await serve(write)
        conn, answer, first = await open_stream(route, b"{}", {}, 5, 1024)
        assert answer.status == 200 and first
        paused = asyncio.get_running_loop().time() + 5
        while not conn.paused:  # nobody reads: the connection stops reading once HIGH_WATER is queued
            assert asyncio.get_running_loop().time() < paused, "reading never paused"
            await asyncio.sleep(0.01)  # polling the protocol's state until the deadline
        assert conn.queued <= upstream_stream.HIGH_WATER + 2 * MiB
        total = len(first)
        while (chunk := await conn.next_chunk(5)) is not None:
            total += len(chunk)
        assert total == 32 * MiB
        conn.abort()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_a_cut_off_answer_raises_mid_stream_and_a_silent_one_times_out() -> None:
    async def main() -> None:
        async def cut(w: asyncio.StreamWriter) -> None:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            await w.drain()

        server, route = await serve(cut)
        conn, _, first = await open_stream(route, b"{}", {}, 5, 1024)
        assert first == b"abc"
        with pytest.raises(ConnectionError, match="after 3 bytes of a 100-byte answer"):
            await conn.next_chunk(5)
        server.close()

        async def silent(w: asyncio.StreamWriter) -> None:
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"one"))
            await w.drain()
            await asyncio.sleep(30)  # a container that hangs: the client gives up first

        server, route = await serve(silent)
        conn, _, first = await open_stream(route, b"{}", {}, 5, 1024)
        assert first == b"one"
        with pytest.raises(TimeoutError):
            await conn.next_chunk(0.2)
        conn.abort()
        server.close()

    asyncio.run(main())


def test_failures_before_the_first_byte_are_model_errors_returned() -> None:
    async def main() -> None:
        async def refuse(w: asyncio.StreamWriter) -> None:
            w.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy")
            await w.drain()

        server, route = await serve(refuse)
        err = await open_stream(route, b"{}", {}, 5, 1024)  # returned, not raised: an outcome, not a fault
        assert isinstance(err, ModelError)
        assert err.fields["OriginalStatusCode"] == 503 and err.fields["OriginalMessage"] == "busy"
        server.close()

        async def mute(w: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)  # never answers

        server, route = await serve(mute)
        err = await open_stream(route, b"{}", {}, 0.2, 1024)
        assert isinstance(err, ModelError)
        assert err.fields["OriginalStatusCode"] == 504
        server.close()

    asyncio.run(main())
