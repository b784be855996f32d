"""Encoded bodies a hostile server sends, on every path (in memory, where
Scrapy's HttpCompressionMiddleware decodes; ``body_file``, spider streams and
TLSFilesPipeline, where the handler decodes), over HTTP/1.1 and HTTP/2:
decompression bombs of every encoding Scrapy decodes stop at the size
limit with bounded memory; several gzip members or zstd frames decode whole
and byte-exact; a body cut inside a compressed stream is data loss, never a
complete file. The test server's ``/serve`` sends the crafted body exactly
as given."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import brotli
import psutil
import pytest
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import stream_of

from conftest import Servers, run_python
from handler_utils import open_handler, open_http11

if TYPE_CHECKING:
    from collections.abc import Iterator

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]

ENCODINGS = ("gzip", "deflate", "br", "zstd")
SERVERS = ("https", "h2")
LIMIT = 10 << 20
#: What a bomb decodes to: far past the limit.
BOMB_SIZE = 256 << 20
#: Peak RSS growth allowed while a bomb is read with a 10 MiB limit.
RSS_GROWTH_MAX = 64 << 20


def _compressor(encoding: str) -> Any:
    if encoding == "gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.compressobj(6)
    if encoding == "br":
        return _BrotliCompressor()
    return _ZstdCompressor()


class _BrotliCompressor:
    def __init__(self) -> None:
        self._inner = brotli.Compressor(quality=1)

    def compress(self, data: bytes) -> bytes:
        return bytes(self._inner.process(data))

    def flush(self) -> bytes:
        return bytes(self._inner.finish())


class _ZstdCompressor:
    def __init__(self) -> None:
        self._inner = zstd.ZstdCompressor()

    def compress(self, data: bytes) -> bytes:
        return bytes(self._inner.compress(data))

    def flush(self) -> bytes:
        return bytes(self._inner.flush())


@cache
def bomb(encoding: str) -> bytes:
    """BOMB_SIZE zero bytes, encoded, made 1 MiB at a time."""
    compressor = _compressor(encoding)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(BOMB_SIZE >> 20)]
    return b"".join(parts) + compressor.flush()


def encode(encoding: str, data: bytes) -> bytes:
    compressor = _compressor(encoding)
    return compressor.compress(data) + compressor.flush()


PAYLOAD = bytes(range(256)) * 4000 + b"the end"


class PeakRSS:
    """The process's resident size sampled every 2 ms while in use."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def served(base: str, encoding: str, body: bytes, **meta: object) -> Request:
    return Request(f"{base}/serve?encoding={encoding}", method="POST", body=body, meta=meta, dont_filter=True)


async def read_stream(handler: Any, request: Request) -> tuple[bytes, int]:
    """The whole streamed body and its largest piece."""
    response = await handler.download_request(request)
    response.request = request
    stream = stream_of(response)
    pieces, largest = [], 0
    async for piece in stream.chunks():
        pieces.append(piece)
        largest = max(largest, len(piece))
    return b"".join(pieces), largest


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@deferred_f_from_coro_f
async def test_a_bomb_stops_at_the_limit_on_body_file(
    servers: Servers, tmp_path: Path, encoding: str, server: str
) -> None:
    target = tmp_path / "bomb.bin"
    request = served(
        getattr(servers, server), encoding, bomb(encoding), body_file=str(target), download_maxsize=LIMIT
    )
    async with open_handler() as handler:
        with PeakRSS() as rss, pytest.raises(DownloadCancelledError):
            await handler.download_request(request)
    assert not target.exists()
    assert rss.growth < RSS_GROWTH_MAX, rss.growth


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@deferred_f_from_coro_f
async def test_a_bomb_stops_at_the_limit_on_a_stream(servers: Servers, encoding: str, server: str) -> None:
    request = served(
        getattr(servers, server), encoding, bomb(encoding), tls_client_stream=True, download_maxsize=LIMIT
    )
    pieces: list[int] = []

    async def read_all() -> None:
        response = await handler.download_request(request)
        response.request = request
        async for piece in stream_of(response).chunks():
            pieces.append(len(piece))  # noqa: PERF401 (each piece counts before the stream fails)

    async with open_handler() as handler:
        with PeakRSS() as rss, pytest.raises(DownloadCancelledError):
            await read_all()
    # Every piece the spider got was bounded (the stream is cancelled at
    # the limit, so the list is what came before).
    assert pieces and max(pieces) <= 64 * 1024
    assert rss.growth < RSS_GROWTH_MAX, rss.growth


def several_parts(encoding: str) -> Iterator[bytes]:
    """PAYLOAD as three gzip members or zstd frames in a row."""
    thirds = (PAYLOAD[:300000], PAYLOAD[300000:600000], PAYLOAD[600000:])
    for part in thirds:
        yield encode(encoding, part)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
@deferred_f_from_coro_f
async def test_every_gzip_member_and_zstd_frame_is_decoded(
    servers: Servers, tmp_path: Path, encoding: str, server: str
) -> None:
    body = b"".join(several_parts(encoding))
    base = getattr(servers, server)
    target = tmp_path / "whole.bin"
    async with open_handler() as handler:
        await handler.download_request(served(base, encoding, body, body_file=str(target)))
        streamed, _ = await read_stream(handler, served(base, encoding, body, tls_client_stream=True))
    assert target.read_bytes() == PAYLOAD
    assert streamed == PAYLOAD
    # Scrapy's own decoding of the same body, for the in-memory path.
    if encoding == "gzip":
        assert gzip.decompress(body) == PAYLOAD


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@deferred_f_from_coro_f
async def test_a_body_cut_inside_the_compressed_stream_is_data_loss(
    servers: Servers, tmp_path: Path, encoding: str, server: str
) -> None:
    whole = encode(encoding, PAYLOAD)
    cut = whole[: len(whole) - 20]
    base = getattr(servers, server)
    target = tmp_path / "cut.bin"
    async with open_handler() as handler:
        with pytest.raises(ResponseDataLossError):
            await handler.download_request(served(base, encoding, cut, body_file=str(target)))
        with pytest.raises(ResponseDataLossError):
            await read_stream(handler, served(base, encoding, cut, tls_client_stream=True))
    assert not target.exists()


@pytest.mark.parametrize("server", ["http", "https", "h2"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("HEAD", "/bytes?n=20000000"),
        ("GET", "/status/304?length=20000000"),
        ("GET", "/status/204?length=20000000"),
    ],
)
@deferred_f_from_coro_f
async def test_bodiless_answers_are_not_refused_for_their_content_length(
    servers: Servers, server: str, method: str, path: str
) -> None:
    """A HEAD, 204 or 304 answer's Content-Length describes a body that is
    not sent: DOWNLOAD_MAXSIZE has nothing to limit, as with HTTP11."""
    request = Request(getattr(servers, server) + path, method=method, meta={"download_maxsize": LIMIT})
    async with open_handler() as handler:
        response = await handler.download_request(request)
    assert response.status == (200 if method == "HEAD" else int(path[8:11]))
    assert response.body == b""
    if server != "h2":  # HTTP11 speaks HTTP/1.1 only
        async with open_http11() as http11:
            reference = await http11.download_request(request)
        assert (reference.status, reference.body) == (response.status, b"")


@deferred_f_from_coro_f
async def test_a_stream_with_a_content_length_past_download_maxsize_streams(servers: Servers) -> None:
    """DOWNLOAD_MAXSIZE does not apply to a streamed body, announced or not
    (docs/streaming.rst); a per-request download_maxsize does."""
    request = Request(f"{servers.h2}/bytes?n=3000000", meta={"tls_client_stream": True}, dont_filter=True)
    async with open_handler(DOWNLOAD_MAXSIZE=1000000, DOWNLOAD_WARNSIZE=500000) as handler:
        body, _ = await read_stream(handler, request)
        assert len(body) == 3000000
        limited = request.replace(meta={"tls_client_stream": True, "download_maxsize": 1000000})
        with pytest.raises(DownloadCancelledError):
            await handler.download_request(limited)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@deferred_f_from_coro_f
async def test_a_bomb_stops_at_the_limit_in_memory(servers: Servers, encoding: str, server: str) -> None:
    """In memory the handler returns the body as it came (``rawBody``) and
    Scrapy's HttpCompressionMiddleware decodes it in bounded steps, as
    after Scrapy's own handler: the bomb is refused at the limit."""
    from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
    from scrapy.exceptions import IgnoreRequest
    from scrapy.utils.test import get_crawler

    request = served(getattr(servers, server), encoding, bomb(encoding), download_maxsize=LIMIT)
    middleware = HttpCompressionMiddleware.from_crawler(
        get_crawler(settings_dict={"DOWNLOAD_MAXSIZE": LIMIT})
    )
    async with open_handler() as handler:
        with PeakRSS() as rss:
            response = await handler.download_request(request)
            assert response.body == bomb(encoding)  # as sent: small
            with pytest.raises(IgnoreRequest, match="exceeded DOWNLOAD_MAXSIZE"):
                middleware.process_response(request, response)
    assert rss.growth < RSS_GROWTH_MAX, rss.growth


PIPELINE_BOMB = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy_tlsclient import TLSFilesPipeline

config = json.loads(sys.argv[1])
bomb = open(config["bomb"], "rb").read()
out = {}

def rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

class BombPipeline(TLSFilesPipeline):
    # The test server's /serve answers a POST with its body: the bomb.
    def get_media_requests(self, item, info):
        yield scrapy.Request(config["url"], method="POST", body=bomb, dont_filter=True)

class Spider(scrapy.Spider):
    name = "bomb"

    async def start(self):
        yield scrapy.Request(config["warm"], callback=self.warm, dont_filter=True)

    def warm(self, response):
        out["baseline"] = rss("VmRSS:")
        with open("/proc/self/clear_refs", "w") as refs:  # VmHWM starts again from VmRSS
            refs.write("5")
        yield {"file_urls": [config["url"]]}

class Collect:
    def process_item(self, item):
        out["files"] = item["files"]
        return item

process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "ITEM_PIPELINES": {"__main__.BombPipeline": 1, "__main__.Collect": 2},
    "FILES_STORE": config["store"], "DOWNLOAD_MAXSIZE": config["limit"], "DOWNLOAD_WARNSIZE": 0,
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
})
process.crawl(Spider)
process.start()
out["peak"] = rss("VmHWM:")
print(json.dumps(out))
"""


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_bomb_stops_at_the_limit_through_tls_files_pipeline(
    servers: Servers, tmp_path: Path, encoding: str, server: str
) -> None:
    """Through a real crawl: the item's file fails, nothing is stored (no
    partial file either), and the process's peak memory stays bounded."""
    bomb_file = tmp_path / "bomb"
    bomb_file.write_bytes(bomb(encoding))
    store = tmp_path / "store"
    base = getattr(servers, server)
    config = {
        "bomb": str(bomb_file),
        "url": f"{base}/serve?encoding={encoding}",
        "warm": f"{base}/bytes?n=1000",
        "store": str(store),
        "limit": LIMIT,
    }
    result = run_python(PIPELINE_BOMB, json.dumps(config))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["files"] == [], figures
    assert not any(path.is_file() for path in store.rglob("*")), list(store.rglob("*"))
    assert figures["peak"] - figures["baseline"] < RSS_GROWTH_MAX, figures
