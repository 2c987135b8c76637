"""The frame codec: round trips, arbitrary splits, limits, and a fuzzed decoder."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_system import codec

pytestmark = pytest.mark.unit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
messages = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(st.lists(messages, max_size=8), st.lists(st.integers(1, 64), max_size=20))
def test_any_split_of_the_stream_decodes_to_the_same_messages(msgs, cuts):
    stream = b"".join(codec.encode(m) for m in msgs)
    decoder = codec.FrameDecoder()
    got, pos = [], 0
    for size in [*cuts, len(stream)]:
        got += decoder.feed(stream[pos : pos + size])
        pos += size
    assert got == msgs
    assert decoder.buffered == 0


def test_an_oversized_header_is_refused_before_any_payload_is_buffered():
    decoder = codec.FrameDecoder(max_frame=100)
    with pytest.raises(codec.FrameTooLarge, match="101 bytes"):
        decoder.feed(struct.pack(">I", 101))


def test_a_frame_at_the_limit_is_accepted():
    msg = {"k": "x" * 92}
    frame = codec.encode(msg, max_frame=100)
    assert len(frame) == 104
    assert codec.FrameDecoder(max_frame=100).feed(frame) == [msg]


def test_encoding_over_the_limit_is_an_error():
    with pytest.raises(ValueError, match="over the limit"):
        codec.encode({"k": "x" * 200}, max_frame=100)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"{", b"", b"[" * 5000 + b"]" * 5000],
)
def test_a_bad_payload_is_reported_in_place_and_framing_survives(payload):
    good = {"op": "get", "key": "x"}
    stream = struct.pack(">I", len(payload)) + payload + codec.encode(good)
    items = codec.FrameDecoder().feed(stream)
    assert len(items) == 2
    assert isinstance(items[0], codec.MalformedFrame)
    assert items[1] == good


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_fuzzed_bytes_only_ever_yield_messages_bad_frames_or_too_large(data, cuts):
    decoder = codec.FrameDecoder(max_frame=256)
    pos = 0
    try:
        for size in [*cuts, len(data)]:
            for item in decoder.feed(data[pos : pos + size]):
                assert isinstance(item, dict | codec.MalformedFrame)
            pos += size
    except codec.FrameTooLarge:
        pass
    assert decoder.buffered <= 256 + 4


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(messages)
def test_encoded_payload_is_plain_json(msg):
    frame = codec.encode(msg)
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    assert json.loads(frame[4:]) == msg


def test_read_frame_reports_a_truncated_stream():
    async def scenario():
        reader = asyncio.StreamReader()
        frame = codec.encode({"op": "put"})
        reader.feed_data(frame[:-3])
        reader.feed_eof()
        with pytest.raises(asyncio.IncompleteReadError):
            await codec.read_frame(reader)

    asyncio.run(scenario())


def test_read_frame_refuses_an_oversized_frame():
    async def scenario():
        reader = asyncio.StreamReader()
        reader.feed_data(struct.pack(">I", 1 << 30))
        with pytest.raises(codec.FrameTooLarge):
            await codec.read_frame(reader, max_frame=1024)

    asyncio.run(scenario())


@settings(max_examples=60, deadline=None)
@given(st.lists(messages, min_size=2, max_size=4), st.data())
def test_a_strict_decoder_notices_at_once_when_it_joins_a_stream_mid_frame(msgs, data):
    stream = b"".join(codec.encode(m) for m in msgs)
    first = len(codec.encode(msgs[0]))
    cut = data.draw(st.integers(1, first - 1))  # bytes lost: we resume inside frame 1
    with pytest.raises((codec.FrameOutOfSync, codec.FrameTooLarge)):
        codec.FrameDecoder(strict=True).feed(stream[cut:])


def test_a_lenient_decoder_reports_a_non_object_in_place():
    stream = struct.pack(">I", 3) + b"[1]" + codec.encode({"a": 1})
    assert isinstance(codec.FrameDecoder().feed(stream)[0], codec.MalformedFrame)
    with pytest.raises(codec.FrameOutOfSync):
        codec.FrameDecoder(strict=True).feed(stream)
