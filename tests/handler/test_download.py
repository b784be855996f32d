"""The handler against real loopback servers (HTTP/1.1, HTTPS, HTTP/2)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time

import pytest
from scrapy import Request, signals
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
    StopDownload,
    UnsupportedURLSchemeError,
)
from scrapy.utils.defer import deferred_f_from_coro_f
from twisted.internet.ssl import Certificate

from scrapy_tlsclient import stream_of

from conftest import Servers, pattern
from handler_utils import gather, open_handler


@deferred_f_from_coro_f
async def test_get_on_every_transport(servers: Servers) -> None:
    expected_protocol = {"http1": "HTTP/1.1", "https1": "HTTP/1.1", "h2": "HTTP/2"}
    async with open_handler() as handler:
        for name, base in servers.all().items():
            request = Request(f"{base}/bytes?n=5000")
            response = await handler.download_request(request)
            assert response.status == 200
            assert response.body == pattern(5000)
            assert response.protocol == expected_protocol[name]
            assert str(response.ip_address) == "127.0.0.1"
            if name == "http1":
                assert response.certificate is None
            else:
                assert isinstance(response.certificate, Certificate)
                assert response.certificate.dump()
            assert request.meta["download_latency"] > 0


@deferred_f_from_coro_f
async def test_request_goes_out_exactly(servers: Servers) -> None:
    body = bytes(range(256)) * 3
    request = Request(
        f"{servers.http}/echo/p%2Fq?a=%2F&b=c%20d&z",
        method="POST",
        body=body,
        headers={"X-Repeat": ["1", "2"], "X-Dropped": None, "Content-Type": "application/octet-stream"},
    )
    async with open_handler() as handler:
        response = await handler.download_request(request)
    echo = json.loads(response.body)
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo/p%2Fq?a=%2F&b=c%20d&z"
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    sent = [(name, value) for name, value in echo["headers"] if name not in ("Host", "Content-Length")]
    assert sent == [("X-Repeat", "1"), ("X-Repeat", "2"), ("Content-Type", "application/octet-stream")]
    assert [value for name, value in echo["headers"] if name == "Content-Length"] == [str(len(body))]


@deferred_f_from_coro_f
async def test_large_request_bodies_go_out_exactly(servers: Servers) -> None:
    """Submissions many times the completion socket's buffer (a 4 MiB body
    is about 5.6 MiB of base64 in its frame), several at once, while the
    library reads them."""
    bodies = [os.urandom(4 * 1024 * 1024 + n) for n in range(3)]
    requests = [
        Request(f"{base}/echo", method="POST", body=body)
        for base in (servers.http, servers.h2)
        for body in bodies
    ]
    async with open_handler() as handler:
        responses = await gather(*(handler.download_request(request) for request in requests))
    for request, response in zip(requests, responses, strict=True):
        echo = json.loads(response.body)  # type: ignore[attr-defined]
        assert echo["body_sha256"] == hashlib.sha256(request.body).hexdigest()


@deferred_f_from_coro_f
async def test_head_and_status_codes(servers: Servers) -> None:
    async with open_handler() as handler:
        head = await handler.download_request(Request(f"{servers.h2}/bytes?n=100", method="HEAD"))
        assert head.status == 200
        assert head.body == b""
        missing = await handler.download_request(Request(f"{servers.https}/status/404"))
        assert missing.status == 404
        assert missing.body == b"status 404"


@deferred_f_from_coro_f
async def test_scrapy_owns_redirects_cookies_and_decompression(servers: Servers) -> None:
    async with open_handler() as handler:
        redirect = await handler.download_request(Request(f"{servers.h2}/redirect?to=/echo"))
        assert redirect.status == 302
        assert redirect.headers[b"Location"] == b"/echo"
        cookies = await handler.download_request(Request(f"{servers.http}/cookies"))
        assert cookies.headers.getlist(b"Set-Cookie") == [b"a=1; Path=/", b"b=2; Path=/"]
        assert cookies.headers.getlist(b"X-Dup") == [b"one", b"two"]
        echo = json.loads((await handler.download_request(Request(f"{servers.http}/echo"))).body)
        assert not [name for name, _ in echo["headers"] if name.lower() == "cookie"]
        for base in servers.all().values():
            raw = await handler.download_request(
                Request(f"{base}/gzip?n=3000", headers={"Accept-Encoding": "gzip"})
            )
            assert raw.headers[b"Content-Encoding"] == b"gzip"
            assert gzip.decompress(raw.body) == pattern(3000)


@deferred_f_from_coro_f
async def test_maxsize_from_content_length_and_while_reading(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_handler(DOWNLOAD_MAXSIZE=10_000) as handler:
        with pytest.raises(DownloadCancelledError, match="Expected to receive 20000 bytes"):
            await handler.download_request(Request(f"{servers.h2}/bytes?n=20000"))
        with pytest.raises(DownloadCancelledError, match=r"Received \d+ bytes which is larger than"):
            await handler.download_request(Request(f"{servers.h2}/bytes?n=200000&chunked=1"))
        small = Request(f"{servers.h2}/bytes?n=20000", meta={"download_maxsize": 30_000})
        assert len((await handler.download_request(small)).body) == 20000
        stats = handler._library.stats()
        assert stats["streamsOpen"] == 0
    assert "larger than download max size (10000)" in caplog.text


@deferred_f_from_coro_f
async def test_sizes_are_checked_on_a_body_that_came_whole_with_its_headers(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    # Small and chunked: no Content-Length to check first, and the whole body
    # arrives with the headers, so no read follows.
    async with open_handler(DOWNLOAD_MAXSIZE=1000, DOWNLOAD_WARNSIZE=500) as handler:
        with caplog.at_level(logging.WARNING, logger="scrapy_tlsclient"):
            with pytest.raises(DownloadCancelledError, match=r"Received 5000 bytes which is larger than"):
                await handler.download_request(Request(f"{servers.h2}/bytes?n=5000&chunked=1"))
            response = await handler.download_request(Request(f"{servers.http}/bytes?n=800&chunked=1"))
        assert response.body == pattern(800)
        assert handler._library.stats()["streamsOpen"] == 0
    warnings = [r.getMessage() for r in caplog.records if "warn size" in r.getMessage()]
    assert warnings == [
        f"Received 800 bytes which is larger than download warn size (500) in request <GET "
        f"{servers.http}/bytes?n=800&chunked=1>."
    ]


@deferred_f_from_coro_f
async def test_warnsize_warns_once_per_response(servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    async with open_handler(DOWNLOAD_WARNSIZE=1000) as handler:
        with caplog.at_level(logging.WARNING, logger="scrapy_tlsclient"):
            await handler.download_request(Request(f"{servers.http}/bytes?n=300000&chunked=1"))
            await handler.download_request(Request(f"{servers.http}/bytes?n=5000"))
    warnings = [r.getMessage() for r in caplog.records if "warn size" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].startswith("Received ")
    assert warnings[1].startswith("Expected to receive 5000 bytes")


@deferred_f_from_coro_f
async def test_download_timeout(servers: Servers) -> None:
    async with open_handler() as handler:
        tombstones = handler._library.stats()["tombstones"]
        started = time.monotonic()
        with pytest.raises(DownloadTimeoutError, match=r"took longer than 0\.5 seconds"):
            await handler.download_request(
                Request(f"{servers.h2}/slow?delay_ms=10000", meta={"download_timeout": 0.5})
            )
        assert time.monotonic() - started < 3
        with pytest.raises(DownloadTimeoutError):
            await handler.download_request(
                Request(f"{servers.http}/stall?n=100", meta={"download_timeout": 0.5})
            )
        # Streams the library already released are not cancelled again.
        assert handler._library.stats()["tombstones"] == tombstones


@deferred_f_from_coro_f
async def test_dataloss(servers: Servers) -> None:
    url = f"{servers.http}/truncate?declared=100000&send=5000"
    async with open_handler() as handler:
        with pytest.raises(ResponseDataLossError):
            await handler.download_request(Request(url))
        partial = await handler.download_request(Request(url, meta={"download_fail_on_dataloss": False}))
        assert partial.flags == ["dataloss"]
        assert partial.body == pattern(5000)
    async with open_handler(DOWNLOAD_FAIL_ON_DATALOSS=False) as handler:
        partial = await handler.download_request(Request(f"{servers.h2}/truncate?declared=100000&send=70000"))
        assert partial.flags == ["dataloss"]
        assert 0 < len(partial.body) <= 70000


@deferred_f_from_coro_f
async def test_signals_and_stop_download(servers: Servers) -> None:
    async with open_handler() as handler:
        seen: list[tuple[str, int]] = []

        def on_headers(headers: object, body_length: int | None, request: Request, spider: object) -> None:
            seen.append(("headers", body_length or -1))
            if request.meta.get("stop_at") == "headers":
                raise StopDownload(fail=request.meta["fail"])

        def on_bytes(data: bytes, request: Request, spider: object) -> None:
            seen.append(("bytes", len(data)))
            if request.meta.get("stop_at") == "bytes":
                raise StopDownload(fail=request.meta["fail"])

        handler.crawler.signals.connect(on_headers, signals.headers_received)
        handler.crawler.signals.connect(on_bytes, signals.bytes_received)

        full = await handler.download_request(Request(f"{servers.h2}/bytes?n=300000"))
        assert seen[0] == ("headers", 300000)
        assert sum(n for kind, n in seen if kind == "bytes") == len(full.body) == 300000

        with pytest.raises(StopDownload) as info:
            await handler.download_request(
                Request(f"{servers.h2}/bytes?n=1000", meta={"stop_at": "headers", "fail": True})
            )
        assert info.value.response is not None
        assert info.value.response.body == b""
        assert "download_stopped" in info.value.response.flags

        started = time.monotonic()
        stopped = await handler.download_request(
            Request(
                f"{servers.http}/stream?chunks=50&size=100&interval_ms=100",
                meta={"stop_at": "bytes", "fail": False},
            )
        )
        assert time.monotonic() - started < 2  # the 5 s stream was cut at once
        assert stopped.body.startswith(b"a" * 100)
        assert "download_stopped" in stopped.flags
        assert handler._library.stats()["streamsOpen"] == 0


@deferred_f_from_coro_f
async def test_native_failures_become_scrapy_exceptions(servers: Servers) -> None:
    async with open_handler() as handler:
        with pytest.raises(DownloadConnectionRefusedError):
            await handler.download_request(Request("http://127.0.0.1:1/"))
        with pytest.raises(UnsupportedURLSchemeError):
            await handler.download_request(Request("ftp://127.0.0.1/x"))
    async with open_handler(DOWNLOAD_VERIFY_CERTIFICATES=True) as handler:
        with pytest.raises(DownloadFailedError, match="certificate"):
            await handler.download_request(Request(f"{servers.h2}/bytes?n=1"))


@deferred_f_from_coro_f
async def test_tls_verbose_logging(servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    async with open_handler(DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING=True) as handler:
        with caplog.at_level(logging.DEBUG, logger="scrapy_tlsclient"):
            await handler.download_request(Request(f"{servers.h2}/bytes?n=1"))
    assert "SSL connection to 127.0.0.1 using protocol TLS 1.3" in caplog.text
    assert "ALPN h2" in caplog.text


@deferred_f_from_coro_f
async def test_debug_log_goes_to_scrapys_log_per_request(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_handler() as handler:
        with caplog.at_level(logging.DEBUG, logger="scrapy_tlsclient"):
            await handler.download_request(
                Request(f"{servers.h2}/bytes?n=7", meta={"tls_client_debug": True})
            )
            await handler.download_request(Request(f"{servers.h2}/bytes?n=8"))
            with pytest.raises(DownloadConnectionRefusedError):
                await handler.download_request(
                    Request("http://127.0.0.1:1/refused", meta={"tls_client_debug": True})
                )
        with pytest.raises(ValueError, match="'tls_client_debug' request meta key must be True or False"):
            await handler.download_request(
                Request(f"{servers.h2}/bytes?n=9", meta={"tls_client_debug": "yes"})
            )
    lines = [r.getMessage() for r in caplog.records if "tls-client debug for" in r.getMessage()]
    assert any("/bytes?n=7>" in line and "request GET" in line for line in lines)
    assert any("/refused>" in line for line in lines)  # failed requests log too
    assert all("/bytes?n=7>" in line or "/refused>" in line for line in lines)


@deferred_f_from_coro_f
async def test_a_huge_download_timeout_is_no_deadline(servers: Servers) -> None:
    """Go counts deadlines in int64 nanoseconds (about 292 years): a longer
    one overflowed into an instant timeout. Longer than 100 years now means
    no deadline, for plain and streamed requests and the setting alike."""
    async with open_handler(DOWNLOAD_TIMEOUT=1e16) as handler:
        for timeout in (9.3e9, 1e16, None):
            meta: dict[str, object] = {} if timeout is None else {"download_timeout": timeout}
            response = await handler.download_request(Request(f"{servers.h2}/bytes?n=10", meta=meta))
            assert response.status == 200 and len(response.body) == 10
            stream_request = Request(f"{servers.h2}/bytes?n=10", meta={**meta, "tls_client_stream": True})
            streamed = await handler.download_request(stream_request)
            streamed.request = stream_request  # what the engine does
            assert streamed.status == 200
            assert b"".join([piece async for piece in stream_of(streamed).chunks()]) == bytes(range(10))
