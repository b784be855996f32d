"""BodyMemory and BodyPieces: a body collected in memory (binding.memory)."""

from __future__ import annotations

import pytest

from scrapy_tlsclient.binding.memory import BodyMemory, BodyPieces
from scrapy_tlsclient.binding.memory import _ffi as ffi


def write_as_the_library(memory: BodyMemory, data: bytes) -> None:
    """What a read into lent memory does: copy into the room, report the count."""
    address, room = memory.lend()
    assert len(data) <= room
    ffi.memmove(ffi.cast("char *", address), data, len(data))
    memory.wrote(len(data))


def test_a_body_filled_exactly_is_the_object_itself() -> None:
    memory = BodyMemory(10)
    memory.append(b"abc")  # the start that came with the headers
    write_as_the_library(memory, b"defg")
    assert (memory.size, memory.room) == (7, 3)
    write_as_the_library(memory, b"hij")
    body = memory.body()
    assert body == b"abcdefghij"
    assert memory.body() is body  # no copy of the whole body


def test_bytes_past_the_announced_length_follow_in_order() -> None:
    memory = BodyMemory(4)
    memory.append(b"ab")
    memory.append(b"cdef")  # fills the room, the rest kept apart
    memory.append(b"gh")
    assert memory.room == 0
    assert memory.size == 8
    assert memory.body() == b"abcdefgh"


def test_a_body_cut_short_is_what_arrived() -> None:
    memory = BodyMemory(1000)
    write_as_the_library(memory, b"x" * 10)
    assert memory.body() == b"x" * 10
    assert BodyMemory(5).body() == b""


def test_a_count_beyond_the_lent_room_is_refused() -> None:
    memory = BodyMemory(4)
    with pytest.raises(ValueError, match="5 bytes written into 4 lent"):
        memory.wrote(5)
    with pytest.raises(ValueError, match="-1 bytes"):
        memory.wrote(-1)


def test_a_length_that_cannot_be_mapped_raises_memory_error() -> None:
    # The handler then collects the body in pieces as they come.
    with pytest.raises(MemoryError):
        BodyMemory(1 << 62)
    with pytest.raises(ValueError, match="above 0"):
        BodyMemory(0)


def test_pieces_are_joined() -> None:
    pieces = BodyPieces()
    for chunk in (b"ab", b"", b"cde"):
        pieces.append(chunk)
    assert pieces.size == 5
    assert pieces.body() == b"abcde"
