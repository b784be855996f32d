"""The completion dispatcher when its handler closes while calls run."""

from __future__ import annotations

import time

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f, deferred_from_coro

from scrapy_tlsclient import NativeCancelledError, get_library
from scrapy_tlsclient._completions import CompletionDispatcher
from scrapy_tlsclient._threads import sleep

from conftest import Servers


async def stopped(calls: CompletionDispatcher, limit_s: float = 5.0) -> None:
    calls.stop()
    deadline = time.monotonic() + limit_s
    while calls._thread.is_alive() and time.monotonic() < deadline:
        await sleep(0.02)
    assert not calls._thread.is_alive(), "the poller did not stop"
    await sleep(0.05)  # its last hand-over to the event loop


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
    await stopped(calls)
    with pytest.raises(NativeCancelledError, match="handler closed during the call"):
        await in_flight
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
