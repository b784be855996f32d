"""The completion dispatcher when its handler closes while calls run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f, deferred_from_coro, maybe_deferred_to_future

from scrapy_tlsclient._completions import CompletionDispatcher
from scrapy_tlsclient._event_loop import sleep
from scrapy_tlsclient.binding import NativeCancelledError, get_library
from scrapy_tlsclient.binding.library import FRAME_BODY_MAX, NativeLibrary

from conftest import Servers
from handler_utils import gather


@deferred_f_from_coro_f
async def test_calls_racing_a_close_end_cancelled_and_leave_no_buffer(servers: Servers) -> None:
    library = get_library()
    calls = CompletionDispatcher(library)
    base = {"requestMethod": "GET", "insecureSkipVerify": True, "sessionId": "completions-close"}
    stalled = await calls.request_stream({**base, "requestUrl": f"{servers.h2}/stall?n=10"})
    flowing = await calls.request_stream({**base, "requestUrl": f"{servers.h2}/bytes?n=1000000"})
    assert stalled.stream_id and flowing.stream_id
    first = await calls.read_stream(stalled.stream_id, 5000, 65536)
    assert first.chunk and not first.eof  # then the server sends nothing more
    # In flight when the handler closes: its result has nowhere to go.
    in_flight = deferred_from_coro(calls.read_stream(stalled.stream_id, -1, 65536))
    await sleep(0.1)
    calls.stop()
    with pytest.raises(NativeCancelledError, match="handler closed during the call"):
        await maybe_deferred_to_future(in_flight)
    # Started after the close (a read-ahead losing the race): refused, so
    # no buffer is parked in a queue nobody polls.
    with pytest.raises(NativeCancelledError, match="not started"):
        await calls.read_stream(flowing.stream_id, 5000, 65536)
    for stream_id in (stalled.stream_id, flowing.stream_id):
        library.cancel_stream(stream_id)
    deadline = time.monotonic() + 5
    while library.stats()["completionsPending"] and time.monotonic() < deadline:
        await sleep(0.02)
    assert library.stats()["completionsPending"] == 0
    assert library.outstanding_buffers() == 0


@deferred_f_from_coro_f
async def test_calls_and_results_travel_over_the_completion_socket(servers: Servers) -> None:
    """No thread waits for results and the event loop makes no native
    call per request: submissions are written to a socket the library
    reads, and results (bodies included) come back on it."""
    library = get_library()
    calls = CompletionDispatcher(library)
    our_end = calls._socket
    base = {
        "requestMethod": "GET",
        "insecureSkipVerify": True,
        "sessionId": "completions-socket",
        "isByteResponse": True,
        "rawBody": True,
        "prefetchBytes": 100_000,
        "prefetchTimeoutMs": 5000,
    }
    sizes = [0, 100, 511, 512, 2048, FRAME_BODY_MAX] * 8
    try:
        with counting_native_calls(library) as native_calls:
            urls = [f"{servers.h2}/bytes?n={size}" for size in sizes]
            results = await gather(*(calls.request_stream({**base, "requestUrl": url}) for url in urls))
        assert [result.body for result in results] == [_pattern(size) for size in sizes]  # type: ignore[attr-defined]
        assert native_calls == []
        # A longer body is left in the library, and taken (and freed) once.
        with counting_native_calls(library) as native_calls:
            longer = await calls.request_stream({**base, "requestUrl": f"{servers.h2}/bytes?n=70000"})
        assert longer.body == _pattern(70_000)
        assert native_calls == ["takeBuffer", "freeMemory"]
        assert calls.in_flight == 0
    finally:
        calls.stop()
    # The socket is closed with the queue, and nothing is left queued.
    assert our_end.fileno() == -1
    assert library.stats()["completionsPending"] == 0
    assert library.outstanding_buffers() == 0


def _pattern(size: int) -> bytes:
    return bytes(i % 256 for i in range(size))


@contextmanager
def counting_native_calls(library: NativeLibrary) -> Iterator[list[str]]:
    """The names of the library's exports called meanwhile, from any thread."""
    real = library._lib
    called: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            function = getattr(real, name)

            def counted(*args: Any) -> Any:
                called.append(name)
                return function(*args)

            return counted

    library._lib = Counting()
    try:
        yield called
    finally:
        library._lib = real
