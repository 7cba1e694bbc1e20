"""An AWS event-stream encoder: the messages of an InvokeEndpointWithResponseStream answer.

Wire format (`application/vnd.amazon.eventstream`), as botocore's `eventstream.py` parses it:
total length (uint32), headers length (uint32), CRC32 of those 8 bytes, the headers, the payload, then the
CRC32 of everything before it. A header is a 1-byte name length, the name, a type byte (7: a UTF-8 string),
a 2-byte value length and the value. botocore ships a parser and no encoder, hence this one.
"""

from __future__ import annotations

import binascii
import json
import struct

PRELUDE = 12  # total length, headers length, prelude CRC
MAX_PAYLOAD = 24 * 2**20  # botocore's parser refuses a larger payload
_STRING = 7  # the header value type for a UTF-8 string


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    if len(raw_name) > 255 or len(raw_value) > 0xFFFF:
        raise ValueError(f"event-stream header {name!r} is too long")
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", _STRING, len(raw_value)) + raw_value


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude, headers in the order given, payload, message CRC."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"event-stream payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = PRELUDE + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    start = prelude + struct.pack("!I", binascii.crc32(prelude)) + head
    # The message CRC runs on from the head's over the payload: the payload is copied once, into the message.
    return b"".join((start, payload, struct.pack("!I", binascii.crc32(payload, binascii.crc32(start)))))


def payload_part(data: bytes) -> bytes:
    """A `PayloadPart` event carrying `data` as its `Bytes`."""
    return message(
        {":message-type": "event", ":event-type": "PayloadPart", ":content-type": "application/octet-stream"}, data
    )


def exception(kind: str, fields: dict[str, str]) -> bytes:
    """A modelled exception event (`ModelStreamError`, `InternalStreamFailure`) with a JSON body."""
    body = json.dumps(fields).encode("utf-8")
    return message({":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"}, body)


def model_stream_error(error_code: str, text: str) -> bytes:
    """ModelStreamError: ErrorCode `StreamBroken` or `ModelInvocationTimeExceeded`, as SageMaker names them."""
    return exception("ModelStreamError", {"Message": text, "ErrorCode": error_code})
