"""Whole crawls in fresh processes: Scrapy's middlewares on top of the
handler, stopping a busy crawl, and Scrapy's reactorless mode."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Servers, run_python

CRAWL = """
import json, sys, time
import scrapy
from scrapy.crawler import AsyncCrawlerProcess, CrawlerProcess

mode, base = sys.argv[1], sys.argv[2]
results = {"ok": [], "errors": []}
HANDLERS = {"http": "scrapy_tlsclient.TLSClientDownloadHandler",
            "https": "scrapy_tlsclient.TLSClientDownloadHandler"}

class Spider(scrapy.Spider):
    name = "crawl"

    async def start(self):
        if mode == "compression":
            yield scrapy.Request(f"{base}/gzip?n=100000", errback=self.failed)
            yield scrapy.Request(f"{base}/gzip?n=30000&again=1", errback=self.failed)
        elif mode == "stop":
            from twisted.internet import reactor  # installed by now

            reactor.callLater(2, stop)
            for i in range(64):
                yield scrapy.Request(f"{base}/slow?delay_ms=60000&i={i}", errback=self.failed)
        elif mode == "streams":
            from twisted.internet import reactor  # installed by now

            reactor.callLater(2, stop_gracefully)
            for i in range(20):
                url = f"{base}/live/sse?events=0&interval_ms=20&id=crawl-{i}"
                yield scrapy.Request(url, meta={"tls_client_stream": True}, callback=self.follow,
                                     errback=self.failed)
        elif mode == "proxy":
            yield scrapy.Request(f"{base}/echo", meta={"proxy": sys.argv[3]}, errback=self.failed)
        elif mode == "jobdir":
            # A set is not a plain JSON value: pickled to the disk queue it
            # would go, but not through scrapy-redis's JSON serialiser.
            bad = {"tls_client_header_order": {"accept", "user-agent"}}
            yield scrapy.Request(f"{base}/bytes?n=1&bad=1", meta=bad, errback=self.failed)
            yield scrapy.Request(f"{base}/bytes?n=2", meta={"tls_client_header_order": ["accept"]},
                                 errback=self.failed)
        else:
            for i in range(5):
                yield scrapy.Request(f"{base}/bytes?n={1000 * i}&i={i}", errback=self.failed)

    def parse(self, response):
        results["ok"].append([response.url, len(response.body), response.headers.get("Content-Encoding")])

    async def follow(self, response):
        from scrapy_tlsclient import stream_of

        async with stream_of(response) as stream:
            async for event in stream.sse():
                results["ok"].append(event.id)
                if False:
                    yield

    def failed(self, failure):
        results["errors"].append(type(failure.value).__name__)

settings = {"DOWNLOAD_HANDLERS": HANDLERS, "LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS": 64,
            "TELNETCONSOLE_ENABLED": False, "DOWNLOAD_MAXSIZE": 50000 if mode == "compression" else 0,
            "WARN_ON_GENERATOR_RETURN_VALUE": False}
if mode == "jobdir":
    settings["JOBDIR"] = sys.argv[3]
if mode == "reactorless":
    settings["TWISTED_REACTOR_ENABLED"] = False
    process = AsyncCrawlerProcess(settings)
else:
    process = CrawlerProcess(settings)
crawler = process.create_crawler(Spider)
stop_asked = []


def stop():
    # What Ctrl-C twice does: a graceful stop (which, as with HTTP11, would
    # wait for the downloads in flight), then a forced reactor stop.
    from twisted.internet import reactor

    stop_asked.append(time.monotonic())
    process.stop()
    reactor.stop()


def stop_gracefully():
    # What one Ctrl-C does: close the spider, let it finish what it does.
    stop_asked.append(time.monotonic())
    process.stop()


process.crawl(crawler)
process.start()
results["stopped_after"] = time.monotonic() - stop_asked[0] if stop_asked else None
stats = crawler.stats.get_stats()
results["stats"] = {k: v for k, v in stats.items() if "refused" in k or "unserializable" in k}
print(json.dumps(results))
"""


def crawl(mode: str, base: str, *extra: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = run_python(CRAWL, mode, base, *extra, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    output: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def test_http_compression_middleware_decodes_and_applies_maxsize_to_the_decoded_body(
    servers: Servers,
) -> None:
    results = crawl("compression", servers.h2)
    # 30000 decoded bytes pass; 100000 decoded bytes exceed DOWNLOAD_MAXSIZE
    # (its gzip body is far smaller), so Scrapy drops it after decoding.
    assert results["ok"] == [[f"{servers.h2}/gzip?n=30000&again=1", 30000, None]]
    assert results["errors"] == ["IgnoreRequest"]


def test_forced_stop_with_64_slow_requests_exits_promptly(servers: Servers) -> None:
    results = crawl("stop", servers.h2)
    assert results["stopped_after"] is not None, results
    assert results["stopped_after"] < 5, results


def test_reactorless_mode(servers: Servers) -> None:
    results = crawl("reactorless", servers.https)
    assert sorted(size for _, size, _ in results["ok"]) == [0, 1000, 2000, 3000, 4000]  # type: ignore[union-attr]
    assert results["errors"] == []


def test_https_proxy(servers: Servers) -> None:
    # A self-signed https:// proxy with certificate verification off
    # (Scrapy's default), as a mitmproxy or a corporate gateway: used as is.
    # Verification on is in test_proxies and test_security.
    results = crawl("proxy", servers.https, servers.proxy_tls)
    assert results["errors"] == []
    assert len(results["ok"]) == 1  # type: ignore[arg-type]


def test_a_graceful_stop_with_20_endless_streams_exits_promptly(servers: Servers) -> None:
    results = crawl("streams", servers.h2)
    assert results["stopped_after"] is not None, results
    assert results["stopped_after"] < 5, results
    assert len(results["ok"]) > 20 * 10  # every stream delivered events until the stop  # type: ignore[arg-type]


def test_unserialisable_tls_client_meta_is_dropped_before_the_scheduler_queues_it(
    servers: Servers, tmp_path: Path
) -> None:
    results = crawl("jobdir", servers.h2, str(tmp_path / "job"))
    # The good request is crawled through the disk queue; the bad one never
    # reaches it (Scrapy would keep it in memory and count it unserializable).
    assert [url for url, _, _ in results["ok"]] == [f"{servers.h2}/bytes?n=2"]  # type: ignore[union-attr]
    assert results["stats"] == {"tls_client/requests/refused_unserialisable": 1}
    assert results["errors"] == []  # dropped at scheduling: no download, no errback


ONE_LINE_CRAWL = """
import sys
import scrapy
from scrapy.crawler import CrawlerProcess

class Spider(scrapy.Spider):
    name = "one_line"
    start_urls = [sys.argv[1] + "/bytes?n=10", sys.argv[2] + "/bytes?n=10"]

    def parse(self, response):
        pass

process = CrawlerProcess({
    "LOG_LEVEL": "INFO", "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {
        "http": "scrapy_tlsclient.TLSClientDownloadHandler",
        "https": "scrapy_tlsclient.TLSClientDownloadHandler",
    },
})
process.crawl(Spider)
process.start()
"""


def test_the_start_up_line_is_logged_once_per_crawl(servers: Servers) -> None:
    """Scrapy builds one handler per scheme; the crawl logs one line."""
    result = run_python(ONE_LINE_CRAWL, servers.http, servers.https)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if ": native library " in line]
    assert len(lines) == 1, lines
