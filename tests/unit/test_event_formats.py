"""The incremental framing parsers: lines, NDJSON, Server-Sent Events.

Examples pin the WHATWG "Interpreting an event stream" rules one by one;
hypothesis checks that the way the network cuts the body never changes
the result (chunked == whole == what generated the stream).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import FrozenInstanceError
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_tlsclient._event_formats import (
    DEFAULT_MAX_LINE_BYTES,
    EventTooLarge,
    LineParser,
    NDJSONError,
    NDJSONParser,
    ServerSentEvent,
    SSEParser,
)

T_co = TypeVar("T_co", covariant=True)
BOM = b"\xef\xbb\xbf"
PROPERTY = settings(max_examples=200, deadline=None)


class Decoder(Protocol[T_co]):
    def feed(self, data: bytes) -> Sequence[T_co]: ...

    def close(self) -> Sequence[T_co]: ...


def run(decoder: Decoder[T_co], chunks: Iterable[bytes]) -> list[T_co]:
    out: list[T_co] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


def cut(data: bytes, points: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def sse(
    event: str = "message", *, data: str, id: str | None = None, retry: int | None = None
) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


def sse_events(stream: bytes | str, **kwargs: Any) -> list[ServerSentEvent]:
    raw = stream.encode() if isinstance(stream, str) else stream
    return run(SSEParser(**kwargs), [raw])


# --------------------------------------------------------------------------- lines


def test_lines_all_terminators() -> None:
    assert run(LineParser(), [b"a\nb\r\nc\rd"]) == ["a", "b", "c", "d"]
    assert run(LineParser(), [b"a\r\r\nb\n\n"]) == ["a", "", "b", ""]
    assert run(LineParser(), [b"\n\r\n\r"]) == ["", "", ""]
    assert run(LineParser(), [b""]) == []


def test_lone_cr_at_chunk_end_ends_the_line_at_once() -> None:
    decoder = LineParser()
    assert decoder.feed(b"one\r") == ["one"]  # not held back for the next piece
    assert decoder.feed(b"\ntwo\r") == ["two"]  # the LF completes the CRLF: no empty line
    assert decoder.feed(b"\r") == [""]  # CR CR: an empty line
    assert decoder.feed(b"three") == []
    assert decoder.close() == ["three"]
    assert decoder.close() == []


def test_cr_at_end_of_stream_is_a_terminator() -> None:
    decoder = LineParser()
    assert decoder.feed(b"last\r") == ["last"]
    assert decoder.close() == []


def test_empty_chunks_change_nothing() -> None:
    decoder = LineParser()
    assert decoder.feed(b"a\r") == ["a"]
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\nb\n") == ["b"]


def test_utf8_character_split_across_chunks() -> None:
    text = "é€😀"
    raw = text.encode() + b"\n"
    for i in range(len(raw) + 1):
        assert run(LineParser(), [raw[:i], raw[i:]]) == [text]
    assert run(LineParser(), [bytes([b]) for b in raw]) == [text]


def test_invalid_utf8_is_replaced() -> None:
    assert run(LineParser(), [b"a\xffb\n"]) == ["a\ufffdb"]
    # A truncated sequence ends at the line end, whichever piece holds it.
    assert run(LineParser(), [b"x\xe2\x82", b"\ny"]) == ["x\ufffd", "y"]
    assert run(LineParser(), [b"x\xe2", b"\x82"]) == ["x\ufffd"]


def test_bom_dropped_at_start_only() -> None:
    assert run(LineParser(), [BOM + b"a\n" + BOM + b"b"]) == ["a", "\ufeffb"]
    assert run(LineParser(), [BOM[:1], BOM[1:2], BOM[2:] + b"a"]) == ["a"]
    assert run(LineParser(), [BOM]) == []
    assert run(LineParser(), [BOM + b"\n"]) == [""]
    assert run(LineParser(strip_bom=False), [BOM + b"a\n"]) == ["\ufeffa"]


def test_partial_bom_is_text() -> None:
    assert run(LineParser(), [BOM[:2]]) == ["\ufffd"]
    assert run(LineParser(), [BOM[:2], b"x\n"]) == ["\ufffdx"]
    assert run(LineParser(), [b"\xef", b"\n"]) == ["\ufffd"]


def test_max_line_bytes_is_inclusive() -> None:
    assert run(LineParser(max_line_bytes=3), [b"abc\nab", b"c"]) == ["abc", "abc"]
    assert run(LineParser(max_line_bytes=2), ["é\n".encode()]) == ["é"]


def test_max_line_bytes_counts_bytes_not_characters() -> None:
    with pytest.raises(EventTooLarge):
        run(LineParser(max_line_bytes=3), ["éé\n".encode()])


def test_line_too_long_in_one_piece() -> None:
    with pytest.raises(EventTooLarge, match=r"4-byte limit.*TLS_CLIENT_MAX_LINE") as info:
        LineParser(max_line_bytes=4, limit_name="TLS_CLIENT_MAX_LINE").feed(b"abcde\n")
    assert isinstance(info.value, ValueError)
    assert info.value.limit == 4
    assert info.value.limit_name == "TLS_CLIENT_MAX_LINE"


def test_unfinished_line_too_long_fails_before_its_end() -> None:
    decoder = LineParser(max_line_bytes=4)
    assert decoder.feed(b"ab") == []
    assert decoder.feed(b"cd") == []
    with pytest.raises(EventTooLarge, match="max_line_bytes"):
        decoder.feed(b"e")  # no line end yet: the buffer is bounded anyway


def test_unterminated_line_too_long_after_a_line() -> None:
    decoder = LineParser(max_line_bytes=2)
    assert decoder.feed(b"ok\nabc") == ["ok"]
    with pytest.raises(EventTooLarge):
        decoder.close()


def test_lines_before_a_too_long_line_come_first() -> None:
    decoder = LineParser(max_line_bytes=3)
    assert decoder.feed(b"one\ntwo\nthree\nfour\n") == ["one", "two"]
    with pytest.raises(EventTooLarge):
        decoder.feed(b"more\n")
    with pytest.raises(EventTooLarge):  # stays failed
        decoder.close()


def test_default_limit_is_one_mib() -> None:
    assert DEFAULT_MAX_LINE_BYTES == 1024 * 1024
    assert LineParser().max_line_bytes == DEFAULT_MAX_LINE_BYTES
    line = b"x" * DEFAULT_MAX_LINE_BYTES
    assert run(LineParser(), [line[:1000], line[1000:], b"\n"]) == [line.decode()]
    with pytest.raises(EventTooLarge):
        run(LineParser(), [line, b"x"])


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_limit_must_be_a_positive_integer(limit: Any) -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineParser(max_line_bytes=limit)


def test_feed_after_close() -> None:
    decoder = LineParser()
    decoder.close()
    with pytest.raises(RuntimeError):
        decoder.feed(b"a\n")


def test_long_stream_in_many_pieces() -> None:
    lines = [f"line {i} " + "é" * (i % 7) for i in range(2000)]
    raw = "\r\n".join(lines).encode()
    chunks = [raw[i : i + 13] for i in range(0, len(raw), 13)]
    assert run(LineParser(), chunks) == lines


# --------------------------------------------------------------------------- NDJSON


def test_ndjson_values_and_blank_lines() -> None:
    raw = b'{"a": 1}\n\n  \t\n[1, 2]\r\n"s"\r3\nnull\ntrue'
    assert run(NDJSONParser(), [raw]) == [{"a": 1}, [1, 2], "s", 3, None, True]


def test_ndjson_object_split_across_chunks() -> None:
    raw = '{"name": "café", "items": [1, 2, {"x": null}]}\n{"b": 2}\n'.encode()
    for i in range(len(raw) + 1):
        assert run(NDJSONParser(), [raw[:i], raw[i:]]) == [
            {"name": "café", "items": [1, 2, {"x": None}]},
            {"b": 2},
        ]


def test_ndjson_invalid_line_reports_its_number() -> None:
    decoder = NDJSONParser()
    assert decoder.feed(b'{"ok": 1}\n\n') == [{"ok": 1}]
    with pytest.raises(NDJSONError, match=r"line 3 .*'\{oops'") as info:
        decoder.feed(b"{oops\n")
    assert isinstance(info.value, ValueError)
    assert info.value.line_number == 3
    assert info.value.excerpt == "{oops"
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_ndjson_values_before_a_bad_line_come_first() -> None:
    decoder = NDJSONParser()
    assert decoder.feed(b"1\n2\nnope\n4\n") == [1, 2]
    with pytest.raises(NDJSONError, match="line 3"):
        decoder.feed(b"5\n")
    with pytest.raises(NDJSONError):
        decoder.close()


def test_ndjson_bad_last_line_at_close() -> None:
    decoder = NDJSONParser()
    assert decoder.feed(b"1\n[1,") == [1]
    with pytest.raises(NDJSONError, match="line 2"):
        decoder.close()


def test_ndjson_excerpt_is_short() -> None:
    with pytest.raises(NDJSONError) as info:
        run(NDJSONParser(), [b"x" * 10_000 + b"\n"])
    assert len(info.value.excerpt) < 100
    assert len(str(info.value)) < 300


def test_ndjson_too_deep_is_an_ndjson_error() -> None:
    with pytest.raises(NDJSONError, match="line 1"):
        run(NDJSONParser(), [b"[" * 200_000 + b"]" * 200_000 + b"\n"])


def test_ndjson_line_limit() -> None:
    with pytest.raises(EventTooLarge, match="TLS_CLIENT_STREAM_MAX_LINE"):
        run(NDJSONParser(max_line_bytes=8, limit_name="TLS_CLIENT_STREAM_MAX_LINE"), [b'"123456789"\n'])


def test_ndjson_bom() -> None:
    assert run(NDJSONParser(), [BOM + b"1\n"]) == [1]


# --------------------------------------------------------------------------- SSE

KNOWN_STREAM = (
    BOM
    + (
        ": a comment\r\n"
        "event: add\r\n"
        "data: first\n"
        "data:second line\n"
        "id: 1\r"
        "retry: 1500\r\n"
        "\r\n"
        "data\n"
        "\n"
        "data: é€😀\r"
        "unknown: x\r"
        "\r"
        "event: no-data\n"
        "id\n"
        "\n"
        "data: after reset\n"
        "\n"
    ).encode()
)
KNOWN_EVENTS = [
    sse("add", data="first\nsecond line", id="1", retry=1500),
    sse(data="", id="1"),
    sse(data="é€😀", id="1"),
    sse(data="after reset"),
]


def test_known_stream_whole() -> None:
    decoder = SSEParser()
    assert run(decoder, [KNOWN_STREAM]) == KNOWN_EVENTS
    assert decoder.last_event_id == ""
    assert decoder.retry == 1500


def test_known_stream_split_at_every_position() -> None:
    for i in range(len(KNOWN_STREAM) + 1):
        assert run(SSEParser(), [KNOWN_STREAM[:i], KNOWN_STREAM[i:]]) == KNOWN_EVENTS, i


def test_known_stream_split_at_every_pair_of_positions() -> None:
    n = len(KNOWN_STREAM)
    for i in range(n + 1):
        for j in range(i, n + 1, 3):
            chunks = [KNOWN_STREAM[:i], KNOWN_STREAM[i:j], KNOWN_STREAM[j:]]
            assert run(SSEParser(), chunks) == KNOWN_EVENTS, (i, j)


def test_known_stream_byte_by_byte() -> None:
    assert run(SSEParser(), [bytes([b]) for b in KNOWN_STREAM]) == KNOWN_EVENTS


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_ends(eol: str) -> None:
    stream = eol.join(["event: e", "data: a", "data: b", "", "data: c", "", ""])
    assert sse_events(stream) == [sse("e", data="a\nb"), sse(data="c")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were "\r" + "\n" two line ends, the empty line between would dispatch "a" alone.
    assert run(SSEParser(), [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [sse(data="a\nb")]
    decoder = SSEParser()
    assert decoder.feed(b"data: x\r\r") == [sse(data="x")]  # dispatched without waiting
    assert decoder.feed(b"\n") == []  # the LF after the last CR: not another empty line
    assert decoder.close() == []


def test_multiline_data() -> None:
    assert sse_events("data: YHOO\ndata: +2\ndata: 10\n\n") == [sse(data="YHOO\n+2\n10")]
    assert sse_events("data\ndata\n\n") == [sse(data="\n")]
    assert sse_events("data:\n\n") == [sse(data="")]


def test_space_after_colon() -> None:
    assert sse_events("data:test\n\ndata: test\n\ndata:  test\n\n") == [
        sse(data="test"),
        sse(data="test"),
        sse(data=" test"),
    ]
    assert sse_events("data: a: b:c\n\n") == [sse(data="a: b:c")]


def test_data_without_colon_is_an_empty_value() -> None:
    assert sse_events("data\n\n") == [sse(data="")]
    assert sse_events("data \n\n") == []  # field "data " is unknown


def test_field_names_are_case_sensitive_and_unknown_ignored() -> None:
    assert sse_events("Data: no\nDATA: no\nfoo: bar\nfoo\ndata: yes\n\n") == [sse(data="yes")]


def test_comments_are_ignored_by_default() -> None:
    decoder = SSEParser()
    assert run(decoder, [b": one\ndata: a\n:two\n\n:\n\n"]) == [sse(data="a")]
    assert decoder.comments == []


def test_comments_can_be_collected() -> None:
    decoder = SSEParser(comments=True)
    assert decoder.feed(b": keep-alive\r\n") == []
    assert decoder.comments == [" keep-alive"]
    decoder.comments.clear()
    assert run(decoder, [b"data: a\n:x\n\n:\n"]) == [sse(data="a")]
    assert decoder.comments == ["x", ""]


def test_empty_data_buffer_does_not_dispatch() -> None:
    assert sse_events("\n\n\nevent: x\nretry: 10\n\n") == []


def test_event_type_reset_after_dispatch() -> None:
    stream = "event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\nevent:\ndata: 4\n\n"
    assert sse_events(stream) == [sse("a", data="1"), sse(data="2"), sse(data="3"), sse(data="4")]


def test_last_event_id_persists() -> None:
    decoder = SSEParser()
    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\n")
    assert events == [sse(data="a", id="1"), sse(data="b", id="1"), sse(data="c", id="2")]
    assert decoder.last_event_id == "2"
    # An empty id resets it; the ID buffer becomes the last event ID even
    # when the block dispatches nothing.
    assert decoder.feed(b"id\n\n") == []
    assert decoder.last_event_id == ""
    assert decoder.feed(b"data: d\n\n") == [sse(data="d")]
    assert decoder.feed(b"id: 5\n") == []
    assert decoder.last_event_id == ""  # set when the block ends, not before
    assert decoder.feed(b"\n") == []
    assert decoder.last_event_id == "5"


def test_id_containing_null_is_ignored() -> None:
    decoder = SSEParser()
    assert run(decoder, [b"id: ok\ndata: a\n\nid: b\x00d\ndata: b\n\n"]) == [
        sse(data="a", id="ok"),
        sse(data="b", id="ok"),
    ]
    assert decoder.last_event_id == "ok"
    assert sse_events("id: é\ndata: a\n\n") == [sse(data="a", id="é")]


@pytest.mark.parametrize("value", ["", "1.5", "-1", "+1", " 100", "1e3", "abc", "10ms", "١٢", "\uff11"])
def test_invalid_retry_is_ignored(value: str) -> None:
    decoder = SSEParser()
    assert run(decoder, [f"retry: 7\n\nretry: {value}\ndata: a\n\n".encode()]) == [sse(data="a")]
    assert decoder.retry == 7


def test_retry() -> None:
    decoder = SSEParser()
    assert decoder.retry is None
    assert decoder.feed(b"retry: 3000\n") == []
    assert decoder.retry == 3000  # applied at once, not at dispatch
    assert decoder.feed(b"data: a\n\ndata: b\n\nretry: 0042\ndata: c\n\n") == [
        sse(data="a", retry=3000),
        sse(data="b"),  # retry belongs to the block that set it
        sse(data="c", retry=42),
    ]
    assert decoder.retry == 42
    assert decoder.feed(b"retry: " + b"9" * 5000 + b"\ndata: d\n\n") == [sse(data="d")]
    assert decoder.retry == 42


def test_final_event_without_blank_line_is_discarded_by_default() -> None:
    decoder = SSEParser()
    assert run(decoder, [b"data: a\n\nid: 9\ndata: b\n"]) == [sse(data="a")]
    assert decoder.last_event_id == ""
    assert sse_events("data: a\n\ndata: b") == [sse(data="a")]
    assert sse_events("data: a\n\ndata: b\r") == [sse(data="a")]


def test_final_event_without_blank_line_with_dispatch_incomplete_at_eof() -> None:
    decoder = SSEParser(dispatch_incomplete_at_eof=True)
    assert run(decoder, [b"data: a\n\nid: 9\nevent: e\ndata: b\n"]) == [
        sse(data="a"),
        sse("e", data="b", id="9"),
    ]
    assert decoder.last_event_id == "9"
    # The last line, without a line end, is interpreted too.
    assert sse_events("data: a\n\ndata: b", dispatch_incomplete_at_eof=True) == [
        sse(data="a"),
        sse(data="b"),
    ]
    # Nothing pending: nothing more.
    assert sse_events("data: a\n\n", dispatch_incomplete_at_eof=True) == [sse(data="a")]
    assert sse_events("data: a\n\nevent: x\n", dispatch_incomplete_at_eof=True) == [sse(data="a")]
    assert sse_events("data: a\r", dispatch_incomplete_at_eof=True) == [sse(data="a")]


def test_close_twice() -> None:
    decoder = SSEParser(dispatch_incomplete_at_eof=True)
    decoder.feed(b"data: a")
    assert decoder.close() == [sse(data="a")]
    assert decoder.close() == []


def test_sse_bom_and_invalid_utf8() -> None:
    assert sse_events(BOM + b"data: a\xffb\n\n") == [sse(data="a\ufffdb")]
    # Only one BOM is dropped: a second one makes the first field unknown.
    assert sse_events(BOM + BOM + b"data: a\n\ndata: b\n\n") == [sse(data="b")]


def test_sse_line_limit() -> None:
    decoder = SSEParser(max_line_bytes=10, limit_name="TLS_CLIENT_SSE_MAX")
    assert decoder.feed(b"data: a\n\ndata: 0123456789\n") == [sse(data="a")]
    with pytest.raises(EventTooLarge, match="TLS_CLIENT_SSE_MAX"):
        decoder.feed(b"\n")


def test_sse_event_data_limit() -> None:
    decoder = SSEParser(max_line_bytes=16)  # the event bound defaults to the line bound
    assert decoder.max_event_bytes == 16
    assert decoder.feed(b"data: 12345678\ndata: 1234567\n\n") == [sse(data="12345678\n1234567")]
    assert decoder.feed(b"data: 1\n\ndata: 12345678\ndata: 12345678\n\n") == [sse(data="1")]
    with pytest.raises(EventTooLarge, match=r"event's data.*16-byte.*max_line_bytes"):
        decoder.feed(b"")
    many = SSEParser(max_event_bytes=100)
    with pytest.raises(EventTooLarge):
        many.feed(b"data: x\n" * 100)


def test_server_sent_event_type() -> None:
    event = ServerSentEvent(data="x")
    assert (event.event, event.data, event.id, event.retry) == ("message", "x", None, None)
    with pytest.raises(FrozenInstanceError):
        event.data = "y"  # type: ignore[misc]


# --------------------------------------------------------------------------- properties

EOLS = ("\n", "\r\n", "\r")
# Text of one line: no line ends, no surrogates (not encodable).
line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return cut(data, points)


def join_lines(lines: Sequence[str], eols: Sequence[str]) -> str:
    """Each line with its line end, so that a lone CR never meets the LF
    of an empty line after it (that pair would be one CRLF)."""
    out: list[str] = []
    previous = ""
    for line, eol in zip(lines, eols, strict=True):
        if previous == "\r" and not line and eol == "\n":
            eol = "\r\n"
        out.append(line + eol)
        previous = eol
    return "".join(out)


def reference_lines(raw: bytes) -> list[str]:
    """Decode the whole stream at once, then split it."""
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    parts = re.split(r"\r\n|\r|\n", raw.decode("utf-8", "replace"))
    return parts if parts[-1] else parts[:-1]


UTF8_SAMPLES = ["é".encode(), "€".encode(), "😀".encode()]
byte_soup = st.lists(
    st.sampled_from(
        [
            b"a",
            b"data",
            b":",
            b" ",
            b"\r",
            b"\n",
            b"\r\n",
            BOM,
            b"\xff",
            b"\xe2\x82",
            b"\xc3",
            b"\x00",
            *UTF8_SAMPLES,
        ]
    ),
    max_size=40,
).map(b"".join) | st.binary(max_size=60)


@PROPERTY
@given(st.data(), byte_soup)
def test_lines_any_bytes_any_chunking(data: st.DataObject, raw: bytes) -> None:
    chunks = data.draw(chunked(raw))
    assert run(LineParser(), chunks) == run(LineParser(), [raw]) == reference_lines(raw)


@PROPERTY
@given(
    st.data(),
    st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\r\n\ufeff"), max_size=12)),
    st.booleans(),
)
def test_lines_roundtrip(data: st.DataObject, lines: list[str], terminate_last: bool) -> None:
    eols = data.draw(st.lists(st.sampled_from(EOLS), min_size=len(lines), max_size=len(lines)))
    text = join_lines(lines, eols)
    if lines and lines[-1] and not terminate_last:
        text = text[: -len(eols[-1])]
    raw = text.encode()
    chunks = data.draw(chunked(raw))
    assert run(LineParser(), chunks) == lines


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8"), max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@PROPERTY
@given(st.data(), st.lists(json_values, max_size=8), st.booleans(), st.booleans())
def test_ndjson_roundtrip(
    data: st.DataObject, values: list[Any], ascii_only: bool, terminate_last: bool
) -> None:
    lines: list[str] = []
    for value in values:
        lines.extend(data.draw(st.lists(st.sampled_from(["", " ", "\t "]), max_size=2)))
        lines.append(json.dumps(value, ensure_ascii=ascii_only))
    eols = data.draw(st.lists(st.sampled_from(EOLS), min_size=len(lines), max_size=len(lines)))
    text = join_lines(lines, eols)
    if lines and not terminate_last:
        text = text[: -len(eols[-1])]
    raw = text.encode()
    chunks = data.draw(chunked(raw))
    assert run(NDJSONParser(), chunks) == run(NDJSONParser(), [raw]) == values


event_specs = st.lists(
    st.fixed_dictionaries(
        {
            "event": st.none() | line_text,
            "data": st.lists(line_text, min_size=1, max_size=4),
            "id": st.none()
            | st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=6),
            "retry": st.none() | st.integers(0, 10**12),
            "comment": st.none() | line_text,
            "unknown": st.booleans(),
        }
    ),
    max_size=6,
)


def serialise(specs: list[dict[str, Any]]) -> tuple[list[str], list[ServerSentEvent]]:
    """The stream's lines and the events a conforming parser dispatches."""
    lines: list[str] = []
    expected: list[ServerSentEvent] = []
    last_id: str | None = None
    for spec in specs:
        if spec["comment"] is not None:
            lines.append(":" + spec["comment"])
        if spec["event"] is not None:
            lines.append("event: " + spec["event"])
        if spec["id"] is not None:
            lines.append("id: " + spec["id"])
            last_id = spec["id"] or None
        if spec["unknown"]:
            lines.append("x-unknown: data: 1")
        lines.extend("data: " + part for part in spec["data"])
        if spec["retry"] is not None:
            lines.append(f"retry: {spec['retry']}")
        lines.append("")
        expected.append(
            ServerSentEvent(
                event=spec["event"] or "message",
                data="\n".join(spec["data"]),
                id=last_id,
                retry=spec["retry"],
            )
        )
    return lines, expected


@PROPERTY
@given(st.data(), event_specs, st.booleans())
def test_sse_roundtrip(data: st.DataObject, specs: list[dict[str, Any]], bom: bool) -> None:
    lines, expected = serialise(specs)
    eols = data.draw(st.lists(st.sampled_from(EOLS), min_size=len(lines), max_size=len(lines)))
    raw = (BOM if bom else b"") + join_lines(lines, eols).encode()
    chunks = data.draw(chunked(raw))
    whole = SSEParser()
    assert run(whole, [raw]) == expected
    decoder = SSEParser()
    assert run(decoder, chunks) == expected
    assert decoder.last_event_id == whole.last_event_id == ((expected[-1].id or "") if expected else "")
    retries = [spec["retry"] for spec in specs if spec["retry"] is not None]
    assert decoder.retry == (retries[-1] if retries else None)


@PROPERTY
@given(st.data(), event_specs.filter(bool), st.sampled_from(["", "\n", "\r", "\r\n"]))
def test_sse_final_event_without_blank_line(
    data: st.DataObject, specs: list[dict[str, Any]], last_eol: str
) -> None:
    lines, expected = serialise(specs)
    lines.pop()  # the blank line ending the last event
    eols = data.draw(st.lists(st.sampled_from(EOLS), min_size=len(lines), max_size=len(lines)))
    text = join_lines(lines, eols)
    text = text[: -len(eols[-1])] + last_eol
    raw = text.encode()
    chunks = data.draw(chunked(raw))
    assert run(SSEParser(), chunks) == expected[:-1]
    assert run(SSEParser(dispatch_incomplete_at_eof=True), chunks) == expected


sse_soup = st.lists(
    st.sampled_from(
        [
            *("data", "data:", "data: x", "event: e", "id: 1", "id", "id: \x00", "retry: 5", "retry: x"),
            *(":c", "", "\n", "\r", "\r\n", "é", "\ufeff"),
        ]
    ),
    max_size=40,
).map(lambda parts: "".join(parts).encode())


@PROPERTY
@given(st.data(), sse_soup | byte_soup, st.booleans())
def test_sse_any_chunking_same_as_whole(data: st.DataObject, raw: bytes, at_eof: bool) -> None:
    chunks = data.draw(chunked(raw))
    whole = SSEParser(comments=True, dispatch_incomplete_at_eof=at_eof)
    split = SSEParser(comments=True, dispatch_incomplete_at_eof=at_eof)
    assert run(split, chunks) == run(whole, [raw])
    assert (split.last_event_id, split.retry, split.comments) == (
        whole.last_event_id,
        whole.retry,
        whole.comments,
    )
