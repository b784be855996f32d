"""The frames of a completion socket (docs/abi.rst, "Completion socket").

Submissions go to the library as an 8-byte header (two little-endian
uint32s: the length of the submission document and of the request body
that follows it, 0 for none), the document, then the body as raw bytes.
Completions come back as an 8-byte header (two
little-endian uint32s: the length of the completion's JSON and of its
body), the JSON, then the body: the bytes of the buffer the result names.
No bytes follow a body length of ``BODY_RELEASED`` (that buffer was
released before the library could write it) or ``BODY_BY_HANDLE`` (a
buffer longer than the socket's ``frameBodyMax``, left to take with
``takeBuffer``).

Pure functions, tested without the library.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

__all__ = [
    "BODY_BY_HANDLE",
    "BODY_RELEASED",
    "TAKE_BUFFER",
    "CompletionFrame",
    "CompletionFrameReader",
    "FrameBody",
    "submission_frames",
]

BODY_RELEASED: Final = 0xFFFFFFFF
BODY_BY_HANDLE: Final = 0xFFFFFFFE
_SUBMISSION_HEAD: Final = struct.Struct("<II")
_COMPLETION_HEAD: Final = struct.Struct("<II")
_HEAD_SIZE: Final = _COMPLETION_HEAD.size
#: The most a submission document, or its body, can be (a uint32 length).
MAX_SUBMISSION_BYTES: Final = 0xFFFFFFFF
#: A body at least this long is written as it is, not copied into the
#: frames around it: a 50 MB upload then exists once in Python's memory.
_OWN_WRITE_MIN: Final = 64 * 1024


def submission_frames(submissions: Iterable[tuple[str, bytes]]) -> list[bytes]:
    """The frames that submit ``(document, body)`` pairs, in order, as the
    pieces to write one after the other: short pieces joined, long bodies
    left as they are."""
    pieces: list[bytes] = []
    joined: list[bytes] = []
    for document, body in submissions:
        encoded = document.encode("utf-8")
        for name, size in (("submission", len(encoded)), ("request body", len(body))):
            if size > MAX_SUBMISSION_BYTES:
                raise ValueError(f"a {name} of {size} bytes exceeds the frame limit (4 GiB)")
        joined += (_SUBMISSION_HEAD.pack(len(encoded), len(body)), encoded)
        if len(body) >= _OWN_WRITE_MIN:
            pieces += (b"".join(joined), body)
            joined = []
        elif body:
            joined.append(body)
    if joined:
        pieces.append(b"".join(joined))
    return pieces


class _TakeBuffer:
    """The body of a frame whose buffer is left to take (``BODY_BY_HANDLE``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TAKE_BUFFER"


TAKE_BUFFER: Final = _TakeBuffer()

#: A frame's body: the bytes, None if the buffer was released before it
#: was written, or TAKE_BUFFER.
FrameBody = bytes | _TakeBuffer | None
#: A completion's JSON and its body.
CompletionFrame = tuple[bytes, FrameBody]


class CompletionFrameReader:
    """Cuts the bytes read from a completion socket into frames, however
    the reads split them.

    A frame cut by a read waits, as the list of the reads that hold it,
    until the reads that complete it came: a large body arriving in many
    reads is joined once, not once per read.
    """

    __slots__ = ("_held", "_held_bytes", "_needed")

    def __init__(self) -> None:
        self._held: list[bytes] = []
        self._held_bytes = 0
        #: Bytes the held frame needs before it can be cut.
        self._needed = _HEAD_SIZE

    @property
    def pending_bytes(self) -> int:
        """Bytes of a frame not complete yet."""
        return self._held_bytes

    def feed(self, data: bytes) -> list[CompletionFrame]:
        """The frames ``data`` completes, in order."""
        if self._held:
            self._held.append(data)
            self._held_bytes += len(data)
            if self._held_bytes < self._needed:
                return []
            data = b"".join(self._held)
            self._held.clear()
            self._held_bytes = 0
        frames: list[CompletionFrame] = []
        position, end = 0, len(data)
        unpack = _COMPLETION_HEAD.unpack_from
        while end - position >= _HEAD_SIZE:
            json_length, body_length = unpack(data, position)
            json_end = position + _HEAD_SIZE + json_length
            body: FrameBody
            if body_length == BODY_RELEASED:
                frame_end, body = json_end, None
            elif body_length == BODY_BY_HANDLE:
                frame_end, body = json_end, TAKE_BUFFER
            else:
                frame_end, body = json_end + body_length, b""
            if frame_end > end:
                self._needed = frame_end - position
                break
            if frame_end > json_end:
                body = data[json_end:frame_end]
            frames.append((data[position + _HEAD_SIZE : json_end], body))
            position = frame_end
        else:
            self._needed = _HEAD_SIZE
        if position < end:
            rest = data[position:]
            self._held.append(rest)
            self._held_bytes = len(rest)
        return frames
