"""Responses handed to the spider while their body still streams."""

from __future__ import annotations

import time
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, ResponseDataLossError
from scrapy.http import Response
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import get_library, stream_of
from scrapy_tlsclient._threads import sleep
from scrapy_tlsclient.streaming import ResponseStream

from conftest import Servers, pattern
from handler_utils import open_handler

STREAM = {"tls_client_stream": True}


async def open_stream(handler: Any, url: str, **meta: object) -> tuple[Response, ResponseStream]:
    request = Request(url, meta={**STREAM, **meta})
    response: Response = await handler.download_request(request)
    response.request = request  # what the engine does
    return response, stream_of(response)


async def streams_open_settle(limit_s: float = 2.0) -> int:
    """The library's open streams, once they have had ``limit_s`` to close."""
    deadline = time.monotonic() + limit_s
    while (count := get_library().stats()["streamsOpen"]) and time.monotonic() < deadline:
        await sleep(0.02)
    return count


@pytest.mark.parametrize("server", ["http", "https", "h2"])
@deferred_f_from_coro_f
async def test_events_arrive_before_the_body_ends(servers: Servers, server: str) -> None:
    base = getattr(servers, server)
    async with open_handler() as handler:
        started = time.monotonic()
        response, stream = await open_stream(handler, f"{base}/sse?events=5&interval_ms=300")
        assert response.status == 200
        assert response.body == b""
        assert "tls_client_stream" in response.flags
        arrivals = [(event.id, event.data, time.monotonic() - started) async for event in stream.sse()]
    assert [(id_, data) for id_, data, _ in arrivals] == [(str(n), f"event {n}") for n in range(5)]
    assert arrivals[0][2] < 0.25  # the first event long before the last one was sent
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
        with pytest.raises(DownloadCancelledError):
            async for _event in stream.sse():
                pass
    assert await streams_open_settle() == baseline


@deferred_f_from_coro_f
async def test_stream_of_a_response_without_a_stream(servers: Servers) -> None:
    async with open_handler() as handler:
        request = Request(f"{servers.h2}/bytes?n=10")
        response = await handler.download_request(request)
        response.request = request
        with pytest.raises(ValueError, match=r"needs a request with meta=.'tls_client_stream': True"):
            stream_of(response)
