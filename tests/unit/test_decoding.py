"""The incremental decoders, pure: any split of the input and any piece
size give the body byte-exact (every gzip member, every zstd frame), no
piece is larger than asked, and a body cut inside a stream is refused."""

from __future__ import annotations

import random
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_tlsclient._decoding import decoder_for

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]

#: Incompressible bytes first, from a fixed seed: whether a raw deflate
#: stream's first bytes pass for a zlib header depends on them.
PAYLOAD = random.Random(7).randbytes(20000) + bytes(range(256)) * 400 + b"the end"


def encode(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "raw-deflate":
        return zlib.compress(data)[2:-4]
    if encoding == "br":
        return bytes(brotli.compress(data))
    return bytes(zstd.compress(data))


def decode(header: bytes, body: bytes, cuts: list[int], piece: int) -> bytes:
    decoder = decoder_for([header])
    assert decoder is not None
    out, start = [], 0
    for end in [*sorted(cuts), len(body)]:
        decoder.feed(body[start:end])
        start = max(start, end)
        while data := decoder.read(piece):
            assert len(data) <= piece
            out.append(data)
    decoder.close()
    return b"".join(out)


HEADERS = {"gzip": b"gzip", "deflate": b"deflate", "raw-deflate": b"deflate", "br": b"br", "zstd": b"zstd"}


@settings(max_examples=100, deadline=None)
@given(
    encoding=st.sampled_from(list(HEADERS)),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
    piece=st.integers(1, 70000),
)
def test_any_split_and_piece_size_give_the_body(encoding: str, cuts: list[int], piece: int) -> None:
    body = encode(encoding, PAYLOAD)
    assert decode(HEADERS[encoding], body, cuts, piece) == PAYLOAD


@settings(max_examples=50, deadline=None)
@given(
    encoding=st.sampled_from(["gzip", "zstd"]),
    cuts=st.lists(st.integers(min_value=0, max_value=30000), max_size=6),
    piece=st.integers(1, 70000),
)
def test_every_member_and_frame(encoding: str, cuts: list[int], piece: int) -> None:
    parts = (PAYLOAD[:7000], PAYLOAD[7000:50000], PAYLOAD[50000:])
    body = b"".join(encode(encoding, part) for part in parts)
    assert decode(HEADERS[encoding], body, cuts, piece) == PAYLOAD


@pytest.mark.parametrize("encoding", list(HEADERS))
def test_a_body_cut_inside_a_stream_is_refused(encoding: str) -> None:
    body = encode(encoding, PAYLOAD)
    with pytest.raises(ValueError, match="ended early"):
        decode(HEADERS[encoding], body[:-10], [], 65536)


def test_a_cut_second_gzip_member_is_refused_and_trailing_garbage_ignored() -> None:
    body = encode("gzip", PAYLOAD)
    with pytest.raises(ValueError, match="ended early"):
        decode(b"gzip", body + body[:40], [], 65536)
    assert decode(b"gzip", body + b"<html>", [], 65536) == PAYLOAD


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_a_bomb_comes_out_in_bounded_pieces(encoding: str) -> None:
    body = encode(encoding, bytes(64 << 20))
    decoder = decoder_for([HEADERS[encoding]])
    assert decoder is not None
    decoder.feed(body)
    first = decoder.read(65536)
    assert len(first) == 65536


def test_chained_encodings_are_undone_in_reverse() -> None:
    body = encode("br", encode("gzip", PAYLOAD))
    assert decode(b"gzip, br", body, [100, 2000], 1000) == PAYLOAD


def test_raw_deflate_whose_first_bytes_pass_for_a_zlib_header() -> None:
    """Fed a few bytes at a time, a raw stream can look like a zlib one
    until later: it is then decoded again from its start."""
    failures = 0
    for seed in range(300):
        data = random.Random(seed).randbytes(3000)
        body = zlib.compress(data)[2:-4]
        try:
            assert decode(b"deflate", body, list(range(1, 40)), 65536) == data
        except ValueError:
            failures += 1
    assert failures == 0
