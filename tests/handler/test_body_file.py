"""body_file: the body goes to a file as it arrives; the file is complete
or absent (scrapy/scrapy#7987 semantics plus atomic completion)."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError, StopDownload
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import TLSClientDownloadHandler
from scrapy_tlsclient._event_loop import sleep

from conftest import Servers, pattern, run_python
from handler_utils import gather, open_handler


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def spy_on_reads(handler: TLSClientDownloadHandler) -> list[str | None]:
    """Record the output_path of every readStream the handler makes."""
    paths: list[str | None] = []
    read_stream = handler._calls.read_stream

    async def recording(*args: Any, **kwargs: Any) -> Any:
        paths.append(args[3] if len(args) > 3 else None)
        return await read_stream(*args, **kwargs)

    handler._calls.read_stream = recording  # type: ignore[method-assign]
    return paths


@deferred_f_from_coro_f
async def test_the_body_goes_to_the_file_not_the_response(servers: Servers, tmp_path: Path) -> None:
    target = tmp_path / "body.bin"
    seen: list[int] = []
    async with open_handler() as handler:

        def on_bytes(data: bytes, **_: object) -> None:
            seen.append(len(data))

        handler.crawler.signals.connect(on_bytes, signal=signals.bytes_received)
        reads = spy_on_reads(handler)
        request = Request(f"{servers.h2}/bytes?n=3000000", meta={"body_file": str(target)})
        response = await handler.download_request(request)
    assert response.status == 200
    assert response.body == b""
    assert target.read_bytes() == pattern(3000000)
    assert sum(seen) == 3000000 and len(seen) > 1  # bytes_received per piece
    assert reads and set(reads) == {None}  # the bytes came through Python, for the receiver
    assert leftovers(tmp_path) == ["body.bin"]  # no temporary file left


@pytest.mark.parametrize("server", ["https", "h2"])
@deferred_f_from_coro_f
async def test_with_no_bytes_received_receiver_the_library_writes_the_file(
    servers: Servers, tmp_path: Path, server: str
) -> None:
    target = tmp_path / "body.bin"
    async with open_handler() as handler:
        reads = spy_on_reads(handler)
        request = Request(f"{getattr(servers, server)}/bytes?n=3000000&chunked=1", meta={"body_file": target})
        response = await handler.download_request(request)
        stats = handler.crawler.stats.get_stats()  # type: ignore[union-attr]
    assert response.body == b""
    assert target.read_bytes() == pattern(3000000)
    # Every read after the prefetched start appended to the temporary file.
    assert reads and all(path is not None and Path(path).name.startswith(".body.bin.part-") for path in reads)
    assert stats["tls_client/body_file/bytes"] == 3000000
    assert stats["tls_client/body_file/stored"] == 1
    assert leftovers(tmp_path) == ["body.bin"]


@deferred_f_from_coro_f
async def test_the_library_stops_writing_just_past_the_maxsize(servers: Servers, tmp_path: Path) -> None:
    # A library-written read goes on until its limit: the handler sets it
    # so an oversized body puts at most one more block on disk.
    target, maxsize = tmp_path / "big.bin", 1_000_000
    async with open_handler() as handler:
        reads = spy_on_reads(handler)
        with pytest.raises(DownloadCancelledError, match="larger than download max size"):
            await handler.download_request(
                Request(
                    f"{servers.h2}/bytes?n=50000000&chunked=1",
                    meta={"body_file": target, "download_maxsize": maxsize},
                )
            )
        received = handler.crawler.stats.get_value("tls_client/body_file/bytes")  # type: ignore[union-attr]
    assert reads and all(path is not None for path in reads)
    assert maxsize < received <= maxsize + 64 * 1024
    assert leftovers(tmp_path) == []


@deferred_f_from_coro_f
async def test_long_downloads_log_their_progress(
    servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "slow.bin"
    caplog.set_level(logging.INFO, logger="scrapy_tlsclient")
    async with open_handler(TLS_CLIENT_PROGRESS_INTERVAL=0.2) as handler:
        url = f"{servers.https}/slowbody?delay_ms=600&n=2000000"  # the body comes after 0.6 s
        await handler.download_request(Request(url, meta={"body_file": str(target)}))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Downloading ")]
    assert lines, "no progress line for a download of over 0.6 s"
    assert all(f"to {target}" in line and "MiB/s" in line for line in lines)
    assert target.stat().st_size == 2000000
    assert "of 1.9 MiB" in lines[-1]  # the size from Content-Length


@deferred_f_from_coro_f
async def test_a_file_object_starts_over_each_attempt(servers: Servers) -> None:
    sink = io.BytesIO(b"left over from an earlier attempt" * 1000)
    async with open_handler() as handler:
        await handler.download_request(Request(f"{servers.https}/bytes?n=1000", meta={"body_file": sink}))
    assert sink.getvalue() == pattern(1000)


@deferred_f_from_coro_f
async def test_compressed_bodies_are_stored_decoded(servers: Servers, tmp_path: Path) -> None:
    target = tmp_path / "decoded.bin"
    async with open_handler() as handler:
        response = await handler.download_request(
            Request(f"{servers.h2}/gzip?n=500000", meta={"body_file": target})
        )
    assert b"Content-Encoding" not in response.headers  # HttpCompressionMiddleware leaves it alone
    assert target.read_bytes() == pattern(500000)


@pytest.mark.parametrize(
    ("path", "meta", "error"),
    [
        ("/bytes?n=5000000", {"download_maxsize": 1000000}, DownloadCancelledError),
        ("/truncate?declared=2000000&send=500000", {}, ResponseDataLossError),
        # A decompression bomb stops at the limit too (decoded size).
        ("/gzip?n=5000000", {"download_maxsize": 1000000}, DownloadCancelledError),
    ],
)
@deferred_f_from_coro_f
async def test_a_failed_download_leaves_no_file(
    servers: Servers, tmp_path: Path, path: str, meta: dict[str, Any], error: type[Exception]
) -> None:
    target = tmp_path / "body.bin"
    async with open_handler() as handler:
        with pytest.raises(error):
            await handler.download_request(
                Request(f"{servers.h2}{path}", meta={"body_file": str(target), **meta})
            )
    assert leftovers(tmp_path) == []


@deferred_f_from_coro_f
async def test_a_failed_download_keeps_an_earlier_complete_file(servers: Servers, tmp_path: Path) -> None:
    target = tmp_path / "body.bin"
    target.write_bytes(b"complete earlier body")
    async with open_handler() as handler:
        with pytest.raises(ResponseDataLossError):
            await handler.download_request(
                Request(
                    f"{servers.https}/truncate?declared=100000&send=50000", meta={"body_file": str(target)}
                )
            )
    assert target.read_bytes() == b"complete earlier body"
    assert leftovers(tmp_path) == ["body.bin"]


@deferred_f_from_coro_f
async def test_closing_the_crawler_mid_body_removes_the_partial_file(
    servers: Servers, tmp_path: Path
) -> None:
    target = tmp_path / "slow.bin"
    async with open_handler() as handler:
        request = Request(f"{servers.h2}/slowbody?delay_ms=5000", meta={"body_file": str(target)})

        async def close_soon() -> None:
            await sleep(0.5)
            await handler.close()

        outcome, _ = await gather(handler.download_request(request), close_soon())
    assert isinstance(outcome, DownloadCancelledError)
    assert leftovers(tmp_path) == []


@deferred_f_from_coro_f
async def test_bad_body_file_values(servers: Servers, tmp_path: Path) -> None:
    """Refused before anything is sent, and nothing touched: body_file
    replaces what its path names, which must never be a device, a FIFO or
    what a link points at."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    kept = tmp_path / "kept.txt"
    kept.write_text("keep me")
    link = tmp_path / "link.bin"
    link.symlink_to(kept)
    read_only = kept.open("rb")
    read_end, write_end = os.pipe()
    pipe_writer = os.fdopen(write_end, "wb")
    async with open_handler() as handler:
        for value, message in [
            (5, "'body_file' request meta key must be a path"),
            (str(tmp_path / "missing-dir" / "x.bin"), "does not exist"),
            (io.StringIO(), "'body_file' request meta key must be a binary file object"),
            ("/dev/null", "is not a regular file"),
            (str(fifo), "is not a regular file"),
            (str(link), "is a symbolic link"),
            (read_only, "must be a writable, seekable binary file object"),
            (pipe_writer, "must be a writable, seekable binary file object"),
            (
                str(tmp_path / ("n" * 240)),
                "is too long: the body is written beside it under a temporary name",
            ),
        ]:
            with pytest.raises(ValueError, match=message):
                await handler.download_request(
                    Request(f"{servers.https}/bytes?n=10", meta={"body_file": value})
                )
        with pytest.raises(ValueError, match="'tls_client_stream' and 'body_file' request meta keys exclude"):
            await handler.download_request(
                Request(
                    f"{servers.https}/bytes?n=10",
                    meta={"body_file": str(tmp_path / "x"), "tls_client_stream": True},
                )
            )
    read_only.close()
    pipe_writer.close()
    os.close(read_end)
    assert kept.read_text() == "keep me" and link.is_symlink() and fifo.is_fifo()
    assert sorted(leftovers(tmp_path)) == ["fifo", "kept.txt", "link.bin"]  # nothing written


@deferred_f_from_coro_f
async def test_stop_download_keeps_what_arrived_or_fails_with_no_file(
    servers: Servers, tmp_path: Path
) -> None:
    """StopDownload(fail=False): the bytes that arrived are the body, as on
    the in-memory path, so the file holds them (a prefix of the body,
    flagged download_stopped). fail=True fails the request and leaves no
    file."""
    target = tmp_path / "stopped.bin"
    async with open_handler() as handler:
        fail = False

        def stop_after_first_piece(data: bytes, **_: object) -> None:
            raise StopDownload(fail=fail)

        handler.crawler.signals.connect(stop_after_first_piece, signal=signals.bytes_received)
        response = await handler.download_request(
            Request(f"{servers.h2}/bytes?n=5000000", meta={"body_file": str(target)})
        )
        assert "download_stopped" in response.flags
        assert response.body == b""
        kept = target.read_bytes()
        assert 0 < len(kept) < 5000000 and kept == pattern(len(kept))
        target.unlink()
        fail = True
        with pytest.raises(StopDownload):
            await handler.download_request(
                Request(f"{servers.h2}/bytes?n=5000000", meta={"body_file": str(target)})
            )
    assert leftovers(tmp_path) == []


@deferred_f_from_coro_f
async def test_a_redirect_leaves_the_file_alone(servers: Servers, tmp_path: Path) -> None:
    """The 3xx answer RedirectMiddleware will follow is not the file's body:
    an earlier complete file stays until the redirected download commits,
    and stays when it fails."""
    target = tmp_path / "file.bin"
    target.write_bytes(b"the complete earlier download")
    async with open_handler() as handler:
        redirect = await handler.download_request(
            Request(
                f"{servers.https}/redirect?to=/truncate%3Fdeclared%3D100%26send%3D50",
                meta={"body_file": str(target)},
            )
        )
        assert redirect.status == 302
        assert target.read_bytes() == b"the complete earlier download"
        with pytest.raises(ResponseDataLossError):
            await handler.download_request(
                Request(f"{servers.https}/truncate?declared=100&send=50", meta={"body_file": str(target)})
            )
        assert target.read_bytes() == b"the complete earlier download"
        # With redirects off for the request, the 3xx answer is the body.
        kept = await handler.download_request(
            Request(f"{servers.https}/redirect?to=/x", meta={"body_file": str(target), "dont_redirect": True})
        )
    assert kept.status == 302
    assert target.read_bytes() == b""
    assert leftovers(tmp_path) == ["file.bin"]


CACHED_CRAWL = """
import sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy_tlsclient import stream_of

url, cache_dir, target = sys.argv[1], sys.argv[2], sys.argv[3]

class Spider(scrapy.Spider):
    name = "cached"

    async def start(self):
        yield scrapy.Request(f"{url}/bytes?n=5000", meta={"body_file": target}, callback=self.stored)
        yield scrapy.Request(f"{url}/bytes?n=7000", meta={"tls_client_stream": True}, callback=self.streamed)

    def stored(self, response):
        print("stored", "cached" in response.flags)

    async def streamed(self, response):
        body = b"".join([piece async for piece in stream_of(response).chunks()])
        print("streamed", len(body), "cached" in response.flags)

process = CrawlerProcess({
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "SPIDER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientStreamMiddleware": 1000},
    "HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": cache_dir,
})
process.crawl(Spider)
process.start()
"""


def test_body_file_and_stream_responses_are_not_cached(servers: Servers, tmp_path: Path) -> None:
    """HttpCacheMiddleware would store their empty placeholder body, and the
    next run would get no file and a stream that cannot be read."""
    target = tmp_path / "stored.bin"
    for run in range(2):
        target.unlink(missing_ok=True)
        result = run_python(
            CACHED_CRAWL, servers.https, str(tmp_path / "cache"), str(target), env=dict(os.environ)
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert sorted(result.stdout.splitlines()[-2:]) == ["stored False", "streamed 7000 False"], (
            run,
            result.stdout,
        )
        assert target.read_bytes() == pattern(5000)
