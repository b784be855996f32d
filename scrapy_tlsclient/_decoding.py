"""Incremental Content-Encoding decoders for bodies the handler decodes
itself: streamed bodies and ``body_file`` downloads.

A response handed to a spider while its body still streams, or written to a
file as it arrives, cannot go through ``HttpCompressionMiddleware`` (it
decodes whole bodies in memory), so those paths decode as they read, with
the encodings Scrapy decodes: gzip (every member), deflate (zlib or raw),
br and zstd (every frame).

The one rule that makes a decompression bomb harmless: no call ever
produces more than the caller asked for. Input is fed in; output is pulled
in pieces of at most ``max_bytes``, as Scrapy's own decoders work in 64 KiB
steps (scrapy/utils/_compression.py), so the caller checks its size limit
between pieces and the decoder never holds more than about one piece of
output.
"""

from __future__ import annotations

import sys
import zlib
from typing import Any, Protocol

__all__ = ["Decoder", "decoder_for"]

#: The gzip member header's first bytes (RFC 1952): what may follow a member.
_GZIP_MAGIC = b"\x1f\x8b"


class Decoder(Protocol):
    def feed(self, data: bytes) -> None:
        """More encoded input."""

    def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of decoded output, ``b""`` when the input fed
        so far is used up. Raises ValueError on malformed input."""

    def close(self) -> None:
        """The encoded body has ended: raises ValueError if it ended inside
        a compressed stream (a truncated body is data loss, never a
        complete one). Call after ``read`` has drained the input."""


class _Zlib:
    """gzip (every member, as GzipFile and browsers read them) and deflate
    (zlib-wrapped or raw, as some servers send it)."""

    def __init__(self, *, gzip: bool) -> None:
        self._gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        #: None between two gzip members.
        self._inner: Any = zlib.decompressobj(self._wbits)
        self._input = b""
        self._started = False
        #: Everything fed before the first output: a deflate body may turn
        #: out to be raw only after its first bytes passed for a zlib
        #: header, and is then decoded again from the start.
        self._replay: bytes | None = b"" if not gzip else None
        #: The stream has ended; anything after it is ignored.
        self._done = False

    def feed(self, data: bytes) -> None:
        self._input += data
        if self._replay is not None:
            self._replay += data

    def read(self, max_bytes: int) -> bytes:
        while not self._done:
            if self._inner is None:
                if not _GZIP_MAGIC.startswith(self._input[:2]):
                    # Bytes after a member that start no other one: ignored,
                    # as Scrapy's gunzip and browsers do.
                    self._done = True
                    return b""
                if len(self._input) < len(_GZIP_MAGIC):
                    return b""  # the next member's header is on its way
                self._inner = zlib.decompressobj(self._wbits)
            if not self._input:
                return b""
            try:
                out = self._inner.decompress(self._input, max_bytes)
            except zlib.error:
                if self._replay is None or self._wbits < 0:
                    raise ValueError("malformed deflate/gzip data in the response body") from None
                # "deflate" without the zlib header (Scrapy accepts it too):
                # start over on everything fed so far.
                self._wbits = -zlib.MAX_WBITS
                self._inner = zlib.decompressobj(self._wbits)
                self._input = self._replay
                continue
            self._started = True
            if out:
                self._replay = None
            if self._inner.eof:
                # What follows the stream is all in unused_data; whatever
                # unconsumed_tail still holds then is a copy of part of it
                # (Scrapy's _inflate does not feed it back either).
                self._input = self._inner.unused_data
                self._inner = None
                self._done = not self._gzip
            else:
                self._input = self._inner.unconsumed_tail
            if out:
                return bytes(out)
        return b""

    def close(self) -> None:
        if self._started and self._inner is not None:
            raise ValueError("the compressed response body ended early")


class _Brotli:
    def __init__(self) -> None:
        try:
            import brotli  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            import brotlicffi as brotli  # type: ignore[import-not-found,no-redef,unused-ignore]
        self._inner: Any = brotli.Decompressor()
        self._input = b""
        self._held = b""
        self._started = False

    def feed(self, data: bytes) -> None:
        self._input += data

    def read(self, max_bytes: int) -> bytes:
        if not self._held:
            self._held = self._process(max_bytes)
        # brotli's limit is a hint it may pass by part of a block: the
        # rest waits here for the next read.
        out, self._held = self._held[:max_bytes], self._held[max_bytes:]
        return out

    def _process(self, max_bytes: int) -> bytes:
        try:
            if self._input and self._inner.can_accept_more_data():
                data, self._input = self._input, b""
                self._started = True
                return bytes(self._inner.process(data, output_buffer_limit=max_bytes))
            if self._started and not self._inner.is_finished():
                # Output held back by the last limit.
                return bytes(self._inner.process(b"", output_buffer_limit=max_bytes))
        except Exception as exc:  # brotli.error is not exported consistently
            raise ValueError(f"malformed brotli data in the response body: {exc}") from None
        return b""

    def close(self) -> None:
        if self._started and not self._inner.is_finished():
            raise ValueError("the brotli response body ended early")


class _Zstd:
    """zstd, every frame (RFC 8878 allows several in a row)."""

    def __init__(self) -> None:
        if sys.version_info >= (3, 14):
            from compression import zstd  # type: ignore[import-not-found,unused-ignore]
        else:
            from backports import zstd  # type: ignore[import-not-found,unused-ignore]
        self._module: Any = zstd
        self._inner: Any = zstd.ZstdDecompressor()
        self._input = b""
        self._started = False

    def feed(self, data: bytes) -> None:
        self._input += data

    def read(self, max_bytes: int) -> bytes:
        while True:
            if self._inner.eof:
                rest = self._inner.unused_data + self._input
                if not rest:
                    return b""
                self._inner, self._input = self._module.ZstdDecompressor(), rest
            if self._inner.needs_input and not self._input:
                return b""
            data, self._input = (self._input, b"") if self._inner.needs_input else (b"", self._input)
            try:
                out = self._inner.decompress(data, max_bytes)
            except self._module.ZstdError as exc:
                raise ValueError(f"malformed zstd data in the response body: {exc}") from None
            self._started = True
            if out:
                return bytes(out)
            if self._inner.needs_input and not self._input and not self._inner.eof:
                return b""

    def close(self) -> None:
        if self._started and not self._inner.eof:
            raise ValueError("the zstd response body ended early")


class _Chain:
    """Several encodings, applied in order: the last one is undone first,
    and each step is pulled in bounded pieces like a single decoder."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes) -> None:
        self._decoders[0].feed(data)

    def read(self, max_bytes: int) -> bytes:
        return self._pull(len(self._decoders) - 1, max_bytes)

    def _pull(self, index: int, max_bytes: int) -> bytes:
        decoder = self._decoders[index]
        while True:
            out = decoder.read(max_bytes)
            if out or index == 0:
                return out
            upstream = self._pull(index - 1, max_bytes)
            if not upstream:
                return b""
            decoder.feed(upstream)

    def close(self) -> None:
        for decoder in self._decoders:
            decoder.close()


def decoder_for(content_encoding: list[bytes]) -> Decoder | None:
    """A decoder for the ``Content-Encoding`` values, or None when the body
    is not encoded (``identity``) or uses an encoding this process cannot
    decode (the body is then delivered as received, header kept)."""
    names = [part.strip().lower() for value in content_encoding for part in value.split(b",") if part.strip()]
    names = [name for name in names if name != b"identity"]
    if not names:
        return None
    decoders: list[Decoder] = []
    for name in reversed(names):
        decoder = _one(name)
        if decoder is None:
            return None
        decoders.append(decoder)
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


def _one(name: bytes) -> Decoder | None:
    try:
        if name in (b"gzip", b"x-gzip"):
            return _Zlib(gzip=True)
        if name == b"deflate":
            return _Zlib(gzip=False)
        if name == b"br":
            return _Brotli()
        if name == b"zstd":
            return _Zstd()
    except ImportError:
        return None
    return None
