"""The wire format shared by clients and nodes: length-prefixed JSON frames.

A frame is a 4-byte big-endian payload length followed by that many bytes of
UTF-8 JSON holding one object. The length is checked against a limit *before*
any payload is buffered, so a peer cannot make us allocate more than the limit.

Two kinds of failure are told apart because they need different handling:

* ``FrameTooLarge`` breaks framing (we will not read the payload, so we cannot
  find the next frame): the connection must be closed, after an error reply.
* ``MalformedFrame`` leaves framing intact (the payload was read, it just is
  not a JSON object): reply with an error and keep the connection.

JSON rather than a binary encoding: the stdlib parser is implemented in C, the
frames are readable in a packet capture, and users writing their own clients
need nothing beyond their language's standard library.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import orjson

HEADER = struct.Struct(">I")
#: Client frames carry one request; 1 MiB is far above any sane key/value.
MAX_CLIENT_FRAME = 1 << 20
#: Peer frames carry batches of log entries or snapshots.
MAX_PEER_FRAME = 16 << 20

_OBJECT_START = frozenset(b"{ \t\r\n")
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_decoder = json.JSONDecoder()


class FrameError(Exception):
    """A frame that cannot be decoded."""


class FrameTooLarge(FrameError):
    """A frame's declared length is over the limit; the stream cannot be resynced."""


class FrameOutOfSync(FrameError):
    """A payload that does not start like a JSON object: we are reading mid-stream garbage."""


class MalformedFrame(FrameError):
    """A complete frame whose payload is not a JSON object; framing is intact."""


def encode(message: dict[str, Any], max_frame: int = MAX_PEER_FRAME) -> bytes:
    """One frame holding ``message``; ``ValueError`` if it would be over ``max_frame``."""
    payload = _encoder.encode(message).encode("utf-8")
    if len(payload) > max_frame:
        raise ValueError(f"frame of {len(payload)} bytes is over the limit of {max_frame}")
    return HEADER.pack(len(payload)) + payload


def encode_plain(message: dict[str, Any], max_frame: int = MAX_PEER_FRAME) -> bytes:
    """``encode`` for messages of plain ints, strings, lists and None (Raft peer frames).

    orjson writes the same compact JSON several times faster; it is not used for
    arbitrary client values, whose big integers and NaNs it treats differently.
    """
    payload = orjson.dumps(message)
    if len(payload) > max_frame:
        raise ValueError(f"frame of {len(payload)} bytes is over the limit of {max_frame}")
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> dict[str, Any]:
    """Parse one frame's payload; ``MalformedFrame`` unless it is a JSON object."""
    try:
        text = payload.decode("utf-8")
        obj = _decoder.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedFrame(f"payload is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedFrame(f"payload must be a JSON object, got {type(obj).__name__}")
    return obj


class FrameDecoder:
    """Incremental decoder: ``feed`` bytes as they arrive, take complete frames out.

    ``feed`` returns a list whose items are decoded messages or ``MalformedFrame``
    instances (one per bad frame, in stream order, so the caller can answer each);
    it raises ``FrameTooLarge`` when a header declares an oversized frame.
    """

    def __init__(self, max_frame: int = MAX_PEER_FRAME, *, strict: bool = False) -> None:
        self.max_frame = max_frame
        # strict: a payload must open with "{" (or JSON whitespace), checked as soon as
        # its first byte arrives. A proxy that drops bytes mid-frame leaves the reader
        # out of sync; without this it could wait for megabytes that never come.
        # (Payload bytes are never NUL, so a header read from payload text is over any
        # limit; a header read from part of a real header is followed by a byte of
        # the header or of '{"', which this check catches.)
        self.strict = strict
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[dict[str, Any] | MalformedFrame]:
        """Add ``data`` and return every frame it completes."""
        self._buf += data
        out: list[dict[str, Any] | MalformedFrame] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= HEADER.size:
            (length,) = HEADER.unpack_from(buf, pos)
            if length > self.max_frame:
                raise FrameTooLarge(
                    f"frame of {length} bytes is over the limit of {self.max_frame}"
                )
            end = pos + HEADER.size + length
            start = pos + HEADER.size
            if self.strict and length and len(buf) > start and buf[start] not in _OBJECT_START:
                raise FrameOutOfSync("payload does not start with '{'; stream out of sync")
            if end > len(buf):
                break
            try:
                out.append(decode_payload(bytes(buf[pos + HEADER.size : end])))
            except MalformedFrame as exc:
                out.append(exc)
            pos = end
        if pos:
            del buf[:pos]
        return out


async def read_frame(
    reader: asyncio.StreamReader, max_frame: int = MAX_PEER_FRAME
) -> dict[str, Any]:
    """Read one frame from a stream.

    Raises ``asyncio.IncompleteReadError`` at end of stream (also mid-frame),
    ``FrameTooLarge`` or ``MalformedFrame``.
    """
    header = await reader.readexactly(HEADER.size)
    (length,) = HEADER.unpack(header)
    if length > max_frame:
        raise FrameTooLarge(f"frame of {length} bytes is over the limit of {max_frame}")
    return decode_payload(await reader.readexactly(length))
