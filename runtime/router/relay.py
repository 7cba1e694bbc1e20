"""The streaming half of InvokeEndpointWithResponseStream: a container's chunks to the client as events.

Two tasks per stream: the pump (container -> PayloadPart events -> client) and a watch on the client's side
of the ASGI connection, so that a client that leaves ends the container's request at once instead of when
the next write fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import Receive, Send

from runtime.router import eventstream
from runtime.router.upstream_stream import StreamConnection

log = logging.getLogger("runtime.router")
# SageMaker documents no size limit for one PayloadPart; larger pieces are split here so that one part stays
# small beside botocore's 24 MiB event limit and a client's read buffer.
MAX_PART = 256 * 2**10
CLIENT_CLOSED = "ClientClosed"  # coserve's own code, for metrics only: the client left mid-stream


async def relay(conn: StreamConnection, first: bytes | None, send: Send, receive: Receive,
                 chunk_timeout: float) -> tuple[int, str | None]:  # fmt: skip
    """Pump the container's chunks to the client until the end, a break, or the client leaving.
    Returns the bytes relayed and the ModelStreamError code if the container broke it, or CLIENT_CLOSED."""
    state = {"size": 0}
    pump = asyncio.ensure_future(_pump(conn, first, send, chunk_timeout, state))
    gone = asyncio.ensure_future(_client_gone(receive))
    try:
        await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not pump.done():  # the client went away: nobody to tell
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            return state["size"], CLIENT_CLOSED
        if pump.exception() is not None:  # sending failed: the client's connection is gone
            log.warning("stream to the client ended: %r", pump.exception())
            return state["size"], CLIENT_CLOSED
        return state["size"], pump.result()
    finally:
        gone.cancel()
        conn.abort()  # never pooled: the next request gets a fresh connection


async def _pump(conn: StreamConnection, chunk: bytes | None, send: Send, chunk_timeout: float,
                state: dict[str, int]) -> str | None:  # fmt: skip
    code: str | None = None
    try:
        while chunk is not None:
            for i in range(0, len(chunk), MAX_PART):
                await send({"type": "http.response.body", "body": eventstream.payload_part(chunk[i : i + MAX_PART]),
                            "more_body": True})  # fmt: skip
            state["size"] += len(chunk)
            chunk = await conn.next_chunk(chunk_timeout)
    except TimeoutError:
        code, text = (
            "ModelInvocationTimeExceeded",
            (
                f"The model sent nothing for {chunk_timeout:g}s in the middle of its response "
                "(Coserve.Server.StreamChunkTimeout)."
            ),
        )
    except ConnectionError as exc:
        code, text = "StreamBroken", f"The connection to the model was reset or closed mid-stream: {exc}."
    if code is not None:
        await send({"type": "http.response.body", "body": eventstream.model_stream_error(code, text),
                    "more_body": True})  # fmt: skip
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return code


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
