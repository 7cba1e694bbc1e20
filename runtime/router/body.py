"""Reading an InvokeEndpoint request body: bounded by MaxPayload, hashed as it streams when a signature needs it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.types import Receive

from runtime.errors import ValidationError
from runtime.router import memory


async def read_body(
    receive: Receive, headers: Mapping[str, str], limit: int, hashed: bool, keep: bool = True
) -> tuple[bytes, str] | ValidationError:
    """The whole body (b"" unless `keep`) and, when `hashed`, its SHA-256 in hex (else ""): SigV4 signs the hash,
    so it is computed chunk by chunk as the body arrives instead of over the joined body afterwards. A body past
    `limit`, or a client that left before its end, is the ValidationError returned."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _too_large(int(declared), limit)
    digest = hashlib.sha256() if hashed else None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return ValidationError("The client closed the connection before sending the whole request.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _too_large(size, limit)
        if keep:
            chunks.append(chunk)
        if digest is not None:
            digest.update(chunk)
        if not message.get("more_body", False):
            memory.note(size)
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # b"" when nothing was kept
            return body, digest.hexdigest() if digest is not None else ""


def _too_large(size: int, limit: int) -> ValidationError:
    return ValidationError(f"Request payload of {size} bytes exceeds the maximum allowed size of {limit} bytes.")
