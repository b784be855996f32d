"""Bodies of announced length, read by the library straight into the
response's own bytes (docs/handler.rst, "Bodies in memory"), and the
pieces path beside it: both byte-exact, over every transport."""

from __future__ import annotations

import time
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, ResponseDataLossError
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import _completions
from scrapy_tlsclient._completions import CompletionDispatcher
from scrapy_tlsclient._event_loop import sleep, start

from conftest import Servers, pattern
from handler_utils import library_count_settled, open_handler

#: Past what comes with the headers, so that reads fill the rest.
SIZES = (3 << 20, (20 << 20) + 7)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the handler's body reads: into lent memory, or as pieces."""
    counts = {"into": 0, "pieces": 0}
    real = CompletionDispatcher.read_stream

    async def counted(self: CompletionDispatcher, *args: Any, **kwargs: Any) -> Any:
        counts["pieces" if kwargs.get("into") is None else "into"] += 1
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(CompletionDispatcher, "read_stream", counted)
    return counts


@deferred_f_from_coro_f
async def test_bodies_of_announced_length_fill_the_responses_memory(
    servers: Servers, reads: dict[str, int]
) -> None:
    async with open_handler() as handler:
        for name, base in servers.all().items():
            for size in SIZES:
                before = dict(reads)
                response = await handler.download_request(Request(f"{base}/bytes?n={size}"))
                assert response.body == pattern(size), (name, size)
                assert response.flags == []
                assert reads["into"] > before["into"], (name, size)
                # The end comes to one read that lends nothing.
                assert reads["pieces"] - before["pieces"] <= 1, (name, size)


@deferred_f_from_coro_f
async def test_bodies_of_unknown_length_or_watched_go_as_pieces(
    servers: Servers, reads: dict[str, int]
) -> None:
    size = 3 << 20
    async with open_handler() as handler:
        for name, base in servers.all().items():
            chunked = await handler.download_request(Request(f"{base}/bytes?n={size}&chunked=1"))
            assert chunked.body == pattern(size), name
        assert reads["into"] == 0

        received: list[int] = []

        def on_bytes(data: bytes, request: Request, spider: object) -> None:
            received.append(len(data))

        handler.crawler.signals.connect(on_bytes, signals.bytes_received)
        for name, base in servers.all().items():
            received.clear()
            response = await handler.download_request(Request(f"{base}/bytes?n={size}"))
            assert response.body == pattern(size), name
            assert sum(received) == size, name  # every piece seen by the receiver
        assert reads["into"] == 0


@deferred_f_from_coro_f
async def test_a_body_cut_short_of_its_announced_length_is_data_loss(
    servers: Servers, reads: dict[str, int]
) -> None:
    async with open_handler() as handler:
        for name, base in servers.all().items():
            url = f"{base}/truncate?declared=3000000&send=2000000"
            with pytest.raises(ResponseDataLossError):
                await handler.download_request(Request(url))
            partial = await handler.download_request(Request(url, meta={"download_fail_on_dataloss": False}))
            assert partial.flags == ["dataloss"], name
            assert partial.body == pattern(2000000), name
    assert reads["into"] > 0


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs starts the peak RSS over (Linux).
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


@deferred_f_from_coro_f
async def test_an_announced_length_costs_only_the_bytes_that_arrive(
    servers: Servers, reads: dict[str, int]
) -> None:
    """A server that announces 3 GiB and sends 2 MB: the response's memory
    is mapped at 3 GiB, but only what arrives is ever touched."""
    url_path = f"/truncate?declared={3 << 30}&send=2000000"
    async with open_handler(DOWNLOAD_MAXSIZE=0, DOWNLOAD_WARNSIZE=0) as handler:
        for name, base in servers.all().items():
            _reset_peak_rss()
            before = _peak_rss()
            partial = await handler.download_request(
                Request(f"{base}{url_path}", meta={"download_fail_on_dataloss": False})
            )
            growth = _peak_rss() - before
            assert partial.body == pattern(2000000), name
            assert growth < 64 << 20, (name, growth)
    assert reads["into"] > 0


@deferred_f_from_coro_f
async def test_a_stalled_body_in_memory_times_out_and_is_released(
    servers: Servers, reads: dict[str, int]
) -> None:
    """Half of an announced body, then silence: the read that holds the
    body ends at the download timeout, and nothing is left open."""
    async with open_handler() as handler:
        for name, base in servers.all().items():
            started = time.monotonic()
            with pytest.raises(DownloadTimeoutError):
                await handler.download_request(
                    Request(f"{base}/stall?n=300000", meta={"download_timeout": 1})
                )
            assert time.monotonic() - started < 3, name
            assert await library_count_settled("streamsOpen", 2) == 0, name
    assert reads["into"] > 0


@deferred_f_from_coro_f
async def test_closing_the_handler_ends_a_read_into_memory_at_once(
    servers: Servers, reads: dict[str, int]
) -> None:
    async with open_handler() as handler:
        downloads = [
            start(handler.download_request(Request(f"{base}/stall?n=300000")))
            for base in servers.all().values()
        ]
        deadline = time.monotonic() + 10
        while reads["into"] < len(downloads) and time.monotonic() < deadline:
            await sleep(0.02)
        assert reads["into"] == len(downloads)
        started = time.monotonic()
        await handler.close()
        assert time.monotonic() - started < 2
        for download in downloads:
            with pytest.raises(DownloadCancelledError):
                await download
        # Every read was answered before the dispatcher stopped: no lent
        # memory had to be kept for a write that might still come.
        assert not _completions._ABANDONED_MEMORY
    assert await library_count_settled("streamsOpen", 2) == 0
