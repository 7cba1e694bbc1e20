"""The event-stream encoder against botocore's own parser (botocore/eventstream.py), byte for byte."""

from __future__ import annotations

import binascii
import json
import struct

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from runtime.router import eventstream


def parse(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    buf = EventStreamBuffer()
    buf.add_data(data)
    return [(dict(m.headers), m.payload) for m in buf]


def test_a_payload_part_parses_with_its_headers_and_bytes() -> None:
    [(headers, payload)] = parse(eventstream.payload_part(b"hello"))
    assert headers == {":message-type": "event", ":event-type": "PayloadPart",
                       ":content-type": "application/octet-stream"}  # fmt: skip
    assert payload == b"hello"


def test_the_prelude_holds_both_lengths_and_its_own_crc() -> None:
    data = eventstream.payload_part(b"abc")
    total, head_len, crc = struct.unpack("!III", data[:12])
    assert total == len(data)
    assert crc == binascii.crc32(data[:8])
    assert struct.unpack("!I", data[-4:])[0] == binascii.crc32(data[:-4])
    assert data[12 + head_len : -4] == b"abc"


def test_a_model_stream_error_is_an_exception_event_with_a_json_body() -> None:
    [(headers, payload)] = parse(eventstream.model_stream_error("StreamBroken", "cut"))
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "ModelStreamError"
    assert json.loads(payload) == {"Message": "cut", "ErrorCode": "StreamBroken"}


def test_a_flipped_byte_fails_botocore_s_checksum() -> None:
    data = bytearray(eventstream.payload_part(b"payload"))
    data[-6] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        parse(bytes(data))


def test_oversize_payloads_and_headers_are_refused() -> None:
    with pytest.raises(ValueError, match="payload"):
        eventstream.message({}, b"x" * (eventstream.MAX_PAYLOAD + 1))
    with pytest.raises(ValueError, match="too long"):
        eventstream.message({"x" * 256: "v"}, b"")


names = st.text(min_size=1, max_size=20).filter(lambda s: len(s.encode()) <= 255)


@given(st.lists(st.tuples(st.dictionaries(names, st.text(max_size=50), max_size=4), st.binary(max_size=2000)),
                max_size=5), st.integers(min_value=1, max_value=64))  # fmt: skip
def test_any_messages_round_trip_through_botocore_whatever_the_read_sizes(
    messages: list[tuple[dict[str, str], bytes]], step: int
) -> None:
    wire = b"".join(eventstream.message(h, p) for h, p in messages)
    buf = EventStreamBuffer()
    got = []
    for i in range(0, len(wire), step):  # the client reads the stream in pieces of any size
        buf.add_data(wire[i : i + step])
        got += [(dict(m.headers), m.payload) for m in buf]
    assert got == messages
