"""No blocked reactor, no silent concurrency cap, connection reuse, close()."""

from __future__ import annotations

import itertools
import json
import time

from scrapy import Request
from scrapy.exceptions import DownloadCancelledError
from scrapy.utils.defer import deferred_f_from_coro_f, deferred_from_coro, maybe_deferred_to_future
from twisted.internet import defer, reactor
from twisted.internet.task import LoopingCall

from conftest import Servers
from handler_utils import gather, open_handler


@deferred_f_from_coro_f
async def test_64_slow_requests_in_flight_and_the_reactor_keeps_ticking(servers: Servers) -> None:
    ticks: list[float] = []
    loop = LoopingCall(lambda: ticks.append(time.monotonic()))
    loop.clock = reactor  # type: ignore[assignment]
    async with open_handler(CONCURRENT_REQUESTS=64) as handler:
        loop.start(0.05)
        started = time.monotonic()
        results = await gather(
            *(handler.download_request(Request(f"{servers.h2}/slow?delay_ms=1500&i={i}")) for i in range(64))
        )
        elapsed = time.monotonic() - started
        loop.stop()
    assert all(getattr(r, "status", None) == 200 for r in results), results[:3]
    # 64 x 1.5 s run together, not in batches of a default-sized pool.
    assert elapsed < 4, elapsed
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 0.7 * elapsed / 0.05
    assert max(gaps) < 0.3, max(gaps)


@deferred_f_from_coro_f
async def test_1000_requests_reuse_a_handful_of_connections(servers: Servers) -> None:
    async def count_connections(base: str) -> int:
        response = await handler.download_request(Request(f"{base}/conns?probe={time.monotonic()}"))
        return int(json.loads(response.body)["accepted"])

    async with open_handler(CONCURRENT_REQUESTS=16) as handler:
        for base in (servers.https, servers.h2):
            before = await count_connections(base)
            for batch in range(63):  # ~1000 requests, 16 at a time as Scrapy would send them
                await gather(
                    *(
                        handler.download_request(Request(f"{base}/bytes?n=100&b={batch}&i={i}"))
                        for i in range(16)
                    )
                )
            opened = await count_connections(base) - before
            assert opened <= 16, (base, opened)


@deferred_f_from_coro_f
async def test_sessions_are_bounded_and_destroyed_on_close(servers: Servers) -> None:
    async with open_handler(TLS_CLIENT_MAX_SESSIONS=2) as handler:
        library = handler._library
        baseline = library.stats()["sessions"]
        for address in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            response = await handler.download_request(
                Request(f"{servers.http}/bytes?n=1", meta={"bindaddress": (address, 0)})
            )
            assert response.status == 200
        assert len(handler._sessions) == 2
        assert library.stats()["sessions"] == baseline + 2
    assert library.stats()["sessions"] == baseline


@deferred_f_from_coro_f
async def test_close_cancels_downloads_in_flight_promptly(servers: Servers) -> None:
    async with open_handler(CONCURRENT_REQUESTS=64) as handler:
        downloads = [
            deferred_from_coro(handler.download_request(Request(f"{servers.h2}/slow?delay_ms=60000&i={i}")))
            for i in range(64)
        ]
        for _ in range(200):  # up to 10 s for all 64 to be waiting on the server
            if handler._library.stats()["callsInFlight"] >= 64:
                break
            await maybe_deferred_to_future(_later(0.05))
        assert handler._library.stats()["callsInFlight"] >= 64, handler._library.stats()
        started = time.monotonic()
        await handler.close()
        results = await maybe_deferred_to_future(defer.DeferredList(downloads, consumeErrors=True))
        assert time.monotonic() - started < 5
    assert all(not ok and isinstance(value.value, DownloadCancelledError) for ok, value in results)
    assert handler._library.stats()["callsInFlight"] == 0


def _later(seconds: float) -> defer.Deferred[None]:
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds)  # type: ignore[arg-type]
