"""Incremental Content-Encoding decoders for streamed bodies.

A response handed to a spider while its body still streams cannot go
through ``HttpCompressionMiddleware`` (it decodes whole bodies), so the
stream decodes as it reads, with the same encodings Scrapy accepts here:
gzip, deflate (zlib or raw), and br / zstd when ``brotli`` / ``zstandard``
are installed.
"""

from __future__ import annotations

import zlib
from typing import Protocol

__all__ = ["Decoder", "decoder_for"]


class Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes:
        """The rest at the end of the body; raises ValueError if the body
        ended inside a compressed block."""


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inner = zlib.decompressobj(wbits)
        self._started = False

    def decode(self, data: bytes) -> bytes:
        try:
            out = self._inner.decompress(data)
        except zlib.error:
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise ValueError("malformed deflate/gzip data in the response body") from None
            # "deflate" without the zlib header, as some servers send it
            # (Scrapy's HttpCompressionMiddleware accepts both too).
            self._wbits = -zlib.MAX_WBITS
            self._inner = zlib.decompressobj(self._wbits)
            return self.decode(data)
        self._started = True
        return out

    def flush(self) -> bytes:
        out = self._inner.flush()
        if not self._inner.eof and self._started:
            raise ValueError("the compressed response body ended early")
        return out


class _Brotli:
    def __init__(self) -> None:
        import brotli  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self._inner = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        try:
            return bytes(self._inner.process(data))
        except Exception as exc:  # brotli.error is not exported consistently
            raise ValueError(f"malformed brotli data in the response body: {exc}") from None

    def flush(self) -> bytes:
        if not self._inner.is_finished():
            raise ValueError("the brotli response body ended early")
        return b""


class _Zstd:
    def __init__(self) -> None:
        import zstandard  # type: ignore[import-not-found,unused-ignore]

        self._inner = zstandard.ZstdDecompressor().decompressobj()

    def decode(self, data: bytes) -> bytes:
        try:
            return bytes(self._inner.decompress(data))
        except Exception as exc:  # zstandard.ZstdError
            raise ValueError(f"malformed zstd data in the response body: {exc}") from None

    def flush(self) -> bytes:
        return b""


class _Chain:
    """Several encodings, applied in order: decode the last one first."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = decoder.decode(data)
        return data

    def flush(self) -> bytes:
        out = b""
        for decoder in self._decoders:
            out = decoder.decode(out) + decoder.flush() if out else decoder.flush()
        return out


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
            return _Zlib(16 + zlib.MAX_WBITS)
        if name == b"deflate":
            return _Zlib(zlib.MAX_WBITS)
        if name == b"br":
            return _Brotli()
        if name == b"zstd":
            return _Zstd()
    except ImportError:
        return None
    return None
