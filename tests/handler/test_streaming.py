"""Responses handed to the spider while their body still streams."""

from __future__ import annotations

import base64
import gc
import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import (
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Response
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import SSEConnectionFailed, stream_of
from scrapy_tlsclient._completions import PUSH_PIECE_MAX, PUSH_WINDOW
from scrapy_tlsclient._event_loop import sleep
from scrapy_tlsclient.streaming import ResponseStream

from conftest import Servers, pattern
from handler_utils import gather, library_count_settled, open_handler

STREAM = {"tls_client_stream": True}


async def open_stream(handler: Any, url: str, **meta: object) -> tuple[Response, ResponseStream]:
    request = Request(url, meta={**STREAM, **meta})
    response: Response = await handler.download_request(request)
    response.request = request  # what the engine does
    return response, stream_of(response)


async def streams_open_settle(limit_s: float = 2.0) -> int:
    """The library's open streams, once they have had ``limit_s`` to close."""
    return await library_count_settled("streamsOpen", limit_s)


@pytest.mark.parametrize("server", ["http", "https", "h2"])
@deferred_f_from_coro_f
async def test_events_arrive_before_the_body_ends(servers: Servers, server: str) -> None:
    base = getattr(servers, server)
    async with open_handler() as handler:
        started = time.monotonic()
        response, stream = await open_stream(handler, f"{base}/sse?events=5&interval_ms=300")
        headers_at = time.monotonic() - started
        assert response.status == 200
        assert response.body == b""
        assert "tls_client_stream" in response.flags
        arrivals = [(event.id, event.data, time.monotonic() - started) async for event in stream.sse()]
    assert [(id_, data) for id_, data, _ in arrivals] == [(str(n), f"event {n}") for n in range(5)]
    # The response came at its headers, not after waiting for more body
    # bytes (the prefetch of ordinary requests waits up to 100 ms).
    assert headers_at < 0.08
    assert arrivals[0][2] < 0.25  # long before the last event was sent
    assert arrivals[-1][2] >= 1.2


@deferred_f_from_coro_f
async def test_stopping_an_endless_stream_releases_it(servers: Servers) -> None:
    baseline = await streams_open_settle()
    async with open_handler() as handler:
        _, stream = await open_stream(handler, f"{servers.h2}/sse?events=0&interval_ms=10")
        received = 0
        async for _event in stream.sse():
            received += 1
            if received == 20:
                break
        assert await streams_open_settle(1.0) == baseline
        assert stream.closed


@deferred_f_from_coro_f
async def test_a_slow_consumer_gets_every_event_in_order(servers: Servers) -> None:
    async with open_handler() as handler:
        _, stream = await open_stream(handler, f"{servers.https}/sse?events=6")
        ids = []
        async with stream:
            async for event in stream.sse():
                ids.append(event.id)
                if len(ids) == 2:
                    await sleep(1.5)  # longer than the read heartbeat
    assert ids == [str(n) for n in range(6)]


@deferred_f_from_coro_f
async def test_raw_chunks_and_lines(servers: Servers) -> None:
    async with open_handler() as handler:
        _, stream = await open_stream(handler, f"{servers.h2}/bytes?n=300000")
        body = b"".join([chunk async for chunk in stream])
        assert body == pattern(300000)
        _, lines = await open_stream(handler, f"{servers.http}/stream?chunks=3&size=5")
        assert [line async for line in lines.lines()] == ["aaaaabbbbbccccc"]


@deferred_f_from_coro_f
async def test_compressed_streams_are_decoded_as_they_arrive(servers: Servers) -> None:
    async with open_handler() as handler:
        for encoding in ("gzip", "deflate"):
            response, stream = await open_stream(handler, f"{servers.h2}/{encoding}?n=200000")
            assert b"Content-Encoding" not in response.headers  # HttpCompressionMiddleware keeps off
            assert b"".join([chunk async for chunk in stream]) == pattern(200000)


@deferred_f_from_coro_f
async def test_a_cut_stream_is_an_error_not_an_end(servers: Servers) -> None:
    async with open_handler() as handler:
        for base in (servers.https, servers.h2):
            _, stream = await open_stream(handler, f"{base}/truncate?declared=100000&send=5000")
            with pytest.raises(ResponseDataLossError):
                async for _chunk in stream:
                    pass


@deferred_f_from_coro_f
async def test_headers_are_timed_but_the_body_is_not(servers: Servers) -> None:
    async with open_handler() as handler:
        started = time.monotonic()
        with pytest.raises(DownloadTimeoutError):
            await open_stream(handler, f"{servers.h2}/slow?delay_ms=5000", download_timeout=0.5)
        assert time.monotonic() - started < 2
        # A body that takes longer than download_timeout is fine once streaming.
        _, stream = await open_stream(
            handler, f"{servers.h2}/sse?events=4&interval_ms=400", download_timeout=0.5
        )
        assert len([event async for event in stream.sse()]) == 4


@deferred_f_from_coro_f
async def test_closing_the_handler_cancels_open_streams(servers: Servers) -> None:
    baseline = await streams_open_settle()
    async with open_handler() as handler:
        streams = [
            (await open_stream(handler, f"{servers.h2}/sse?events=0&interval_ms=50"))[1] for _ in range(20)
        ]
        started = time.monotonic()
    assert time.monotonic() - started < 5
    for stream in streams:
        # The crawl stopping ends a stream's iterators quietly.
        assert [event async for event in stream.sse()] == []
        assert stream.stopped == "closing"
    assert await streams_open_settle() == baseline


@deferred_f_from_coro_f
async def test_stream_of_a_response_without_a_stream(servers: Servers) -> None:
    async with open_handler() as handler:
        request = Request(f"{servers.h2}/bytes?n=10")
        response = await handler.download_request(request)
        response.request = request
        with pytest.raises(ValueError, match=r"needs a request with meta=.'tls_client_stream': True"):
            stream_of(response)


def live_stats(servers: Servers, stream_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{servers.http}/live/stats?id={stream_id}", timeout=10) as response:
        stats: dict[str, Any] = json.load(response)
    return stats


async def disconnect_seen(servers: Servers, stream_id: str, limit_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while not (stats := live_stats(servers, stream_id))["disconnected"] and time.monotonic() < deadline:
        await sleep(0.02)
    return stats


@pytest.mark.parametrize("server", ["http", "https", "h2"])
@deferred_f_from_coro_f
async def test_the_server_sees_a_stopped_stream_go_within_a_second(servers: Servers, server: str) -> None:
    stream_id = f"stop-{server}-{time.monotonic_ns()}"
    baseline = await streams_open_settle()
    async with open_handler() as handler:
        _, stream = await open_stream(
            handler, f"{getattr(servers, server)}/live/sse?id={stream_id}&events=0&interval_ms=20"
        )
        async for event in stream.sse():
            if json.loads(event.data)["n"] == 9:
                break
        stopped_ns = time.time_ns()
        stats = await disconnect_seen(servers, stream_id, 2.0)
        assert stats["disconnected"], stats
        assert (stats["disconnected_ns"] - stopped_ns) / 1e9 < 1.0
        assert stats["ended"] == "client_gone"
        assert await streams_open_settle(1.0) == baseline


@deferred_f_from_coro_f
async def test_framing_across_chunk_boundaries(servers: Servers) -> None:
    # Split inside a field name, inside "\r\n", and inside the two bytes of é.
    text = "data: first\r\n\r\n: a comment\nevent: up\ndata: line one\ndata: line two é\n\nid: 7\ndata: last"
    raw = text.encode()
    cut = [5, raw.index(b"\r\n") + 1, raw.index("é".encode()) + 1, len(raw) - 3]
    parts = [raw[a:b] for a, b in zip([0, *cut], [*cut, len(raw)], strict=True)]
    encoded = ",".join(base64.urlsafe_b64encode(part).decode().rstrip("=") for part in parts)
    async with open_handler() as handler:
        for server in (servers.http, servers.h2):
            url = f"{server}/live/raw?parts={encoded}&interval_ms=30"
            _, stream = await open_stream(handler, url)
            events = [(e.event, e.data, e.id) async for e in stream.sse()]
            assert events == [("message", "first", None), ("up", "line one\nline two é", None)]
            _, stream = await open_stream(handler, url)
            events = [(e.event, e.data, e.id) async for e in stream.sse(dispatch_incomplete_at_eof=True)]
            assert events[-1] == ("message", "last", "7")  # the final event had no blank line
            _, stream = await open_stream(handler, url)
            assert [line async for line in stream.lines()][-2:] == ["id: 7", "data: last"]


@pytest.mark.parametrize("server", ["http", "https", "h2"])
@deferred_f_from_coro_f
async def test_a_server_failing_mid_stream_is_an_error(servers: Servers, server: str) -> None:
    async with open_handler() as handler:
        for kind, iterate in (("sse", "sse"), ("ndjson", "ndjson")):
            count = "events" if kind == "sse" else "lines"
            url = f"{getattr(servers, server)}/live/{kind}?{count}=0&fail_after=5&interval_ms=10"
            _, stream = await open_stream(handler, url)
            received: list[object] = []
            with pytest.raises((ResponseDataLossError, DownloadFailedError)):
                await collect(getattr(stream, iterate)(), received)
            assert len(received) == 5


async def collect(items: Any, into: list[object]) -> None:
    """Append each item as it arrives, so a failure keeps what came before."""
    async for item in items:
        into.append(item)  # noqa: PERF401 (the items before the error are the point)


@deferred_f_from_coro_f
async def test_a_paused_spider_slows_the_server(servers: Servers) -> None:
    stream_id = f"pressure-{time.monotonic_ns()}"
    async with open_handler() as handler:
        _, stream = await open_stream(handler, f"{servers.h2}/live/bytes?id={stream_id}&n={4 << 30}")
        async with stream:
            first = await stream.read()
            await sleep(1.5)  # the server could send GiBs in this time
            written = live_stats(servers, stream_id)["written_bytes"]
            assert written < 64 << 20, written  # bounded buffers, not the whole body
            # What the library pushed meanwhile stays within its credit.
            pushed = stream._body._pushed
            assert pushed is not None
            held = sum(len(read.chunk) for read, _ in pushed._pieces if read is not None)
            assert 0 < held <= PUSH_WINDOW + PUSH_PIECE_MAX, held
            received = len(first)
            while received < 32 << 20:
                received += len(await stream.read())
        stats = await disconnect_seen(servers, stream_id, 2.0)
    assert stats["blocked_ns"] > 1e9  # the server spent the pause blocked in writes
    assert stats["disconnected"]


@deferred_f_from_coro_f
async def test_100_live_streams_with_a_bounded_number_of_threads(servers: Servers) -> None:
    threads_before = threading.active_count()
    async with open_handler(CONCURRENT_REQUESTS=16) as handler:
        opened = await gather(
            *(
                open_stream(handler, f"{servers.https}/live/sse?id=many-{n}&events=0&interval_ms=50")
                for n in range(100)
            )
        )
        streams = [stream for _, stream in opened]  # type: ignore[misc]

        async def five_events(stream: ResponseStream) -> list[int]:
            numbers = []
            async for event in stream.sse():
                numbers.append(json.loads(event.data)["n"])
                if len(numbers) == 5:
                    break
            return numbers

        results = await gather(*(five_events(stream) for stream in streams))
        threads_during = threading.active_count()
    assert all(result == [0, 1, 2, 3, 4] for result in results), results[:3]
    # No thread waits for reads (the event loop takes them), plus the
    # handler's small pool for cancels (created on demand): not a thread
    # per stream.
    assert threads_during - threads_before <= 16 + 10, (threads_before, threads_during)


@deferred_f_from_coro_f
async def test_sse_reconnects_with_last_event_id(servers: Servers) -> None:
    stream_id = f"reconnect-{time.monotonic_ns()}"
    async with open_handler() as handler:
        # The server breaks the stream after every 3 events and asks for a
        # 50 ms reconnection delay.
        url = f"{servers.h2}/live/sse?id={stream_id}&events=0&fail_after=3&retry_ms=50"
        _, stream = await open_stream(handler, url)
        numbers = []
        async for event in stream.sse(reconnect=True):
            numbers.append(json.loads(event.data)["n"])
            if len(numbers) == 10:
                break
        assert numbers == list(range(10))  # nothing lost, nothing repeated
        assert live_stats(servers, stream_id)["last_event_id"] == "8"
        # Without reconnect=True the break is an error; a clean end stays an
        # end after max_reconnects.
        _, stream = await open_stream(handler, f"{servers.https}/live/sse?events=2&retry_ms=20")
        ids = [event.id async for event in stream.sse(reconnect=True, max_reconnects=2)]
        assert ids == ["0", "1", "2", "3", "4", "5"]
        # A reconnection that gets something other than an event stream ends it.
        part = base64.urlsafe_b64encode(b"retry: 10\ndata: x\n\n").decode().rstrip("=")
        _, stream = await open_stream(
            handler, f"{servers.https}/live/raw?parts={part}&content_type=text/plain"
        )
        events: list[object] = []
        with pytest.raises(SSEConnectionFailed, match="Content-Type 'text/plain'"):
            await collect(stream.sse(reconnect=True), events)
        assert len(events) == 1


@deferred_f_from_coro_f
async def test_finished_and_abandoned_streams_are_freed(servers: Servers) -> None:
    """The soak benchmark found every streamed response kept for the life of
    the process (a registry entry whose value held its own key)."""
    async with open_handler() as handler:
        for i in range(20):
            response, stream = await open_stream(
                handler, f"{servers.h2}/live/sse?events=3&interval_ms=1&n={i}"
            )
            if i % 2:
                # Read to the end.
                assert len([event async for event in stream.sse()]) == 3
            # else: dropped unread, as a spider that ignores its stream.
            del response, stream
        await streams_open_settle()
        gc.collect()
        alive = [obj for obj in gc.get_objects() if isinstance(obj, ResponseStream)]
        assert alive == [] and len(handler._live) == 0
        # An abandoned stream's collection cancelled its native stream.
        assert await streams_open_settle() == 0
