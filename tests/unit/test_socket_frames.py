"""The completion socket's frames, cut however the reads split them.

The wire format is pinned by bytes written out by hand (the library's Go
tests pin the other side); hypothesis checks that any cutting of a frame
stream gives the frames that made it.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_tlsclient.binding.socket_frames import (
    BODY_BY_HANDLE,
    BODY_RELEASED,
    TAKE_BUFFER,
    CompletionFrameReader,
    submission_frames,
)

PROPERTY = settings(max_examples=300, deadline=None)


def frame(encoded: bytes, body: object) -> bytes:
    if body is None:
        return struct.pack("<II", len(encoded), BODY_RELEASED) + encoded
    if body is TAKE_BUFFER:
        return struct.pack("<II", len(encoded), BODY_BY_HANDLE) + encoded
    assert isinstance(body, bytes)
    return struct.pack("<II", len(encoded), len(body)) + encoded + body


def test_submissions_are_length_prefixed_utf8_with_their_bodies() -> None:
    assert submission_frames([('{"a":1}', b""), ('{"é":"✓"}', b"\x00\xff")]) == [
        struct.pack("<II", 7, 0) + b'{"a":1}' + struct.pack("<II", 12, 2) + '{"é":"✓"}'.encode() + b"\x00\xff"
    ]
    assert submission_frames([]) == []


def test_a_long_body_is_written_as_it_is() -> None:
    """A large upload is not copied into the frames around it."""
    body = bytes(1 << 20)
    pieces = submission_frames([("{}", body), ("[]", b"")])
    assert pieces[1] is body
    assert (
        b"".join(pieces) == struct.pack("<II", 2, len(body)) + b"{}" + body + struct.pack("<II", 2, 0) + b"[]"
    )


def test_a_whole_stream_in_one_read() -> None:
    reader = CompletionFrameReader()
    wire = (
        frame(b'{"ticket":"a"}', b"body")
        + frame(b'{"ticket":"b"}', b"")
        + struct.pack("<II", 2, 0xFFFFFFFF)
        + b"{}"
        + struct.pack("<II", 3, 0xFFFFFFFE)
        + b"{ }"
    )
    assert reader.feed(wire) == [
        (b'{"ticket":"a"}', b"body"),
        (b'{"ticket":"b"}', b""),
        (b"{}", None),
        (b"{ }", TAKE_BUFFER),
    ]
    assert reader.pending_bytes == 0


def test_a_frame_cut_anywhere_waits_for_the_rest() -> None:
    wire = frame(b'{"ticket":"a"}', b"0123456789")
    for cut in range(1, len(wire)):
        reader = CompletionFrameReader()
        assert reader.feed(wire[:cut]) == []
        assert reader.pending_bytes == cut
        assert reader.feed(wire[cut:]) == [(b'{"ticket":"a"}', b"0123456789")]
        assert reader.pending_bytes == 0


def test_a_large_body_is_joined_once_it_is_whole() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    wire = frame(b"{}", body)
    reader = CompletionFrameReader()
    pieces = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    for piece in pieces[:-1]:
        assert reader.feed(piece) == []
    assert reader.pending_bytes == len(wire) - len(pieces[-1])
    assert reader.feed(pieces[-1]) == [(b"{}", body)]


frames_strategy = st.lists(
    st.tuples(st.binary(max_size=40), st.one_of(st.none(), st.just(TAKE_BUFFER), st.binary(max_size=300))),
    max_size=12,
)


@PROPERTY
@given(frames=frames_strategy, cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20))
def test_any_cutting_gives_the_frames_that_made_the_stream(
    frames: list[tuple[bytes, object]], cuts: list[int]
) -> None:
    wire = b"".join(frame(encoded, body) for encoded, body in frames)
    bounds = sorted({0, len(wire), *(min(cut, len(wire)) for cut in cuts)})
    reader = CompletionFrameReader()
    got: list[tuple[bytes, object]] = []
    for start, end in itertools.pairwise(bounds):
        got.extend(reader.feed(wire[start:end]))
    assert got == frames
    assert reader.pending_bytes == 0


def test_a_submission_over_the_frame_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import scrapy_tlsclient.binding.socket_frames as frames

    monkeypatch.setattr(frames, "MAX_SUBMISSION_BYTES", 10)
    with pytest.raises(ValueError, match="exceeds the frame limit"):
        frames.submission_frames([("x" * 11, b"")])
    with pytest.raises(ValueError, match="request body of 11 bytes exceeds"):
        frames.submission_frames([("{}", b"x" * 11)])
