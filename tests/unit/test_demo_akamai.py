"""The demo site's Akamai HTTP/2 fingerprint (example_project/fingerprint.py),
from frames built in memory: the parts in the order they were sent, a
header block split over CONTINUATION frames, HEADERS padding and priority
fields stripped, and bytes fed in any split."""

from __future__ import annotations

import sys
from pathlib import Path

from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    HeadersFrame,
    PriorityFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_project"))

from fingerprint import H2_PREFACE, H2Preamble

CHROME_REQUEST = [(":method", "GET"), (":authority", "localhost"), (":scheme", "https"), (":path", "/")]


def preamble(*, split: int = 0, padded: bool = False, priority: bool = False) -> bytes:
    settings = SettingsFrame(0)
    settings.settings = {1: 65536, 2: 0, 4: 6291456, 6: 262144}
    window = WindowUpdateFrame(0)
    window.window_increment = 15663105
    block = Encoder().encode([*CHROME_REQUEST, ("user-agent", "x")])
    headers = HeadersFrame(1)
    if padded:
        headers.flags.add("PADDED")
        headers.pad_length = 7
    if priority:
        headers.flags.add("PRIORITY")
        headers.depends_on, headers.stream_weight, headers.exclusive = 0, 255, True
    frames = [settings, window]
    if split:
        headers.data = block[:split]
        continuation = ContinuationFrame(1)
        continuation.data = block[split:]
        continuation.flags.add("END_HEADERS")
        frames += [headers, continuation]
    else:
        headers.data = block
        headers.flags.add("END_HEADERS")
        frames.append(headers)
    return H2_PREFACE + b"".join(frame.serialize() for frame in frames)


def akamai_of(data: bytes, step: int) -> str | None:
    capture = H2Preamble()
    for at in range(0, len(data), step):
        capture.feed(data[at : at + step])
    assert not capture.failed
    return capture.akamai


def test_chrome_like_preamble_gives_the_published_chrome_value_in_any_split() -> None:
    expected = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
    for step in (1, 7, 4096):
        assert akamai_of(preamble(), step) == expected
        assert akamai_of(preamble(split=3, padded=True, priority=True), step) == expected


def test_priority_frames_and_a_missing_window_update() -> None:
    settings = SettingsFrame(0)
    settings.settings = {2: 0, 3: 100}
    priorities = []
    for stream, weight in ((3, 201), (5, 101)):
        frame = PriorityFrame(stream)
        frame.depends_on, frame.stream_weight, frame.exclusive = 0, weight - 1, False
        priorities.append(frame)
    headers = HeadersFrame(1)
    headers.data = Encoder().encode(
        [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a")]
    )
    headers.flags.add("END_HEADERS")
    data = H2_PREFACE + b"".join(frame.serialize() for frame in [settings, *priorities, headers])
    assert akamai_of(data, 5) == "2:0;3:100|00|3:0:0:201,5:0:0:101|m,s,p,a"


def test_no_value_before_the_header_block_ends_and_none_for_other_protocols() -> None:
    data = preamble(split=3)
    assert akamai_of(data[:-1], 16) is None
    capture = H2Preamble()
    capture.feed(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert capture.failed
    assert capture.akamai is None
