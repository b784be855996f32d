"""Memory a read lends the library, so that a body's bytes land where they
stay (readStream ``intoAddress``/``intoLength``, docs/abi.rst, "Body into
memory").

A :class:`BodyMemory` is a ``bytes`` object of the body's announced length,
filled in place: the library's reads copy each byte into it once, and the
same object becomes ``response.body``, where collecting the pieces would
copy every byte three times more (into the library's blocks, a native
buffer, a piece and the joined body) and have the kernel zero fresh pages
for each copy. ``bytes(n)`` is calloc'd memory, which the kernel maps as
zero pages until written, so announcing a length allocates nothing until
the bytes arrive. Filling a ``bytes`` object in place is sound only while nothing
else has seen it (its hash is not computed, and no other reference
exists): the object stays inside this class until :meth:`BodyMemory.body`
hands it over, after the last read that lent it has been answered.
"""

from __future__ import annotations

from io import BytesIO
from typing import Final

import cffi

__all__ = ["BodyMemory", "BodyPieces"]

_ffi: Final = cffi.FFI()


class BodyMemory:
    """A body of known length, filled in place; bytes past that length (a
    body longer than announced) are kept apart and joined at the end."""

    __slots__ = ("_filled", "_length", "_pointer", "_rest", "_value")

    def __init__(self, length: int) -> None:
        if length <= 0:
            raise ValueError(f"a body in memory needs a length above 0, got {length}")
        # MemoryError for a length that cannot even be mapped: the caller
        # collects the body in pieces instead.
        self._value = bytes(length)
        self._length = length
        self._pointer = _ffi.from_buffer(self._value)
        self._filled = 0
        self._rest: list[bytes] = []

    @property
    def size(self) -> int:
        """The bytes of the body so far."""
        return self._filled + sum(map(len, self._rest))

    @property
    def room(self) -> int:
        """What a read may still fill."""
        return self._length - self._filled

    def lend(self) -> tuple[int, int]:
        """The address and length of the room, for one read: the caller
        keeps this object alive until that read is answered, and counts what
        it wrote with :meth:`wrote`."""
        return int(_ffi.cast("uintptr_t", self._pointer + self._filled)), self.room

    def wrote(self, count: int) -> None:
        """The library wrote ``count`` bytes into the room it was lent."""
        if not 0 <= count <= self.room:
            raise ValueError(f"the library reports {count} bytes written into {self.room} lent")
        self._filled += count

    def append(self, data: bytes) -> None:
        """Bytes that came otherwise (the start that came with the headers,
        or a body longer than announced), in order."""
        fits = min(len(data), self.room) if not self._rest else 0
        if fits:
            _ffi.memmove(self._pointer + self._filled, data, fits)
            self._filled += fits
        if fits < len(data):
            self._rest.append(data[fits:])

    def body(self) -> bytes:
        """The body as it arrived: the object itself when it filled exactly.
        Call it once no read holds the memory any more."""
        if self._rest:
            return b"".join([self._value, *self._rest])
        if self._filled == self._length:
            return self._value
        return self._value[: self._filled]  # a body cut short


class BodyPieces:
    """A body of unknown length, collected as its pieces come: the same
    ``append``, ``size`` and ``body`` as :class:`BodyMemory`."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = BytesIO()

    @property
    def size(self) -> int:
        return self._buffer.tell()

    def append(self, data: bytes) -> None:
        self._buffer.write(data)

    def body(self) -> bytes:
        return self._buffer.getvalue()
