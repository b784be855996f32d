"""The completion dispatcher when its handler closes while calls run."""

from __future__ import annotations

import os
import time

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f, deferred_from_coro, maybe_deferred_to_future

from scrapy_tlsclient import NativeCancelledError, get_library
from scrapy_tlsclient._completions import CompletionDispatcher
from scrapy_tlsclient._threads import sleep

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
async def test_results_arrive_through_the_wake_up_pipe(servers: Servers) -> None:
    """No thread waits for results: the event loop watches a pipe the
    library writes to, and takes every completion on its own thread."""
    library = get_library()
    calls = CompletionDispatcher(library)
    pipe = calls._wake_read
    base = {
        "requestMethod": "GET",
        "insecureSkipVerify": True,
        "sessionId": "completions-pipe",
        "isByteResponse": True,
        "rawBody": True,
        "prefetchBytes": 1000,
        "prefetchTimeoutMs": 5000,
    }
    try:
        urls = [f"{servers.h2}/bytes?n={100 + i}" for i in range(50)]
        results = await gather(*(calls.request_stream({**base, "requestUrl": url}) for url in urls))
        assert [len(result.body) for result in results] == [100 + i for i in range(50)]  # type: ignore[attr-defined]
        assert calls.in_flight == 0
    finally:
        calls.stop()
    # The pipe is closed with the queue, and nothing is left queued.
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(pipe)
    assert library.stats()["completionsPending"] == 0
