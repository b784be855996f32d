"""WebSockets in whole Scrapy crawls, under both reactors: items yielded
from the message loop flow into the crawl, and leaving the loop, an
exception in the callback or the crawl stopping closes the socket."""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any
from urllib.request import urlopen

import pytest

from conftest import Servers, run_python

CRAWL = """
import json, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy_tlsclient import websocket_of

base, mode, reactor, tag = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
seen = {"closes": [], "errors": []}

class Spider(scrapy.Spider):
    name = "websockets"

    async def start(self):
        if mode == "items":
            yield scrapy.Request(f"{base}/ws/send?n=5&size=8", callback=self.read_all)
            yield scrapy.Request(f"{base}/ws/echo?tag={tag}", callback=self.send_then_break)
            yield scrapy.Request(f"{base}/ws/echo?tag={tag}", callback=self.fail, dont_filter=True)
        else:  # shutdown: 20 idle sockets, then the spider closes
            for n in range(20):
                yield scrapy.Request(f"{base}/ws/echo?n={n}&tag={tag}", callback=self.wait_forever)

    async def read_all(self, response):
        ws = websocket_of(response)
        async for message in ws:
            yield {"message": message.text}
        seen["closes"].append([ws.close_code, ws.close_reason])

    async def send_then_break(self, response):
        ws = websocket_of(response)
        await ws.send("ping-me")
        async for message in ws:
            yield {"echo": message.text}
            break

    async def fail(self, response):
        ws = websocket_of(response)
        await ws.send("x")
        async for message in ws:
            raise ValueError("boom in the loop")
        yield {}

    async def wait_forever(self, response):
        ws = websocket_of(response)
        if "n=19" in response.url:
            from twisted.internet import reactor as r
            r.callLater(1.0, self.crawler.engine.close_spider, self, "enough")
        async for message in ws:
            yield {"unexpected": message.text}
        seen["closes"].append("ended")

    def closed(self, reason):
        seen["closed_at"] = time.monotonic()

settings = {
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {
        scheme: "scrapy_tlsclient.TLSClientDownloadHandler" for scheme in ("http", "https", "ws", "wss")
    },
    "SPIDER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientStreamMiddleware": 1000},
    "TWISTED_REACTOR": reactor,
}
process = CrawlerProcess(settings)
crawler = process.create_crawler(Spider)
def spider_error(failure, response, spider):
    seen["errors"].append(str(failure.value))
process.crawl(crawler)
from scrapy import signals
crawler.signals.connect(spider_error, signal=signals.spider_error)
started = time.monotonic()
process.start()
stats = crawler.stats.get_stats()
seen["stats"] = {k: v for k, v in stats.items() if k.startswith("tls_client/websockets")}
seen["item_count"] = stats.get("item_scraped_count", 0)
seen["elapsed"] = time.monotonic() - started
print(json.dumps(seen))
"""

REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "default": "twisted.internet.epollreactor.EPollReactor",
}


def crawl(servers: Servers, mode: str, reactor: str) -> dict[str, Any]:
    """Run the crawl; what it saw, with the close codes the server got
    from its sockets under ``server_closes``."""
    tag = f"{mode}-{reactor}-{secrets.token_hex(4)}"
    base = "wss" + servers.https[len("https") :]
    result = run_python(CRAWL, base, mode, REACTORS[reactor], tag, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    with urlopen(f"{servers.http}/ws-closes?tag={tag}", timeout=10) as answer:
        seen["server_closes"] = json.load(answer)
    return seen


@pytest.mark.parametrize("reactor", ["asyncio", "default"])
def test_items_flow_from_the_message_loop(servers: Servers, reactor: str) -> None:
    seen = crawl(servers, "items", reactor)
    assert seen["closes"] == [[1000, "done"]]
    assert seen["errors"] == ["boom in the loop"]
    # The break and the exception each closed their socket with 1000.
    assert seen["server_closes"] == [1000, 1000]
    assert seen["item_count"] == 6  # five messages, one echo
    stats = seen["stats"]
    assert stats["tls_client/websockets/opened"] == 3
    assert stats["tls_client/websockets/closed"] == 3


@pytest.mark.parametrize("reactor", ["asyncio", "default"])
def test_stopping_the_crawl_closes_20_open_sockets_promptly(servers: Servers, reactor: str) -> None:
    started = time.monotonic()
    seen = crawl(servers, "shutdown", reactor)
    assert seen["closes"] == ["ended"] * 20
    # Each socket sent its close frame: going away, the crawl stopping.
    assert seen["server_closes"] == [1001] * 20
    assert seen["stats"]["tls_client/websockets/opened"] == 20
    assert seen["stats"]["tls_client/websockets/closed"] == 20
    # close_spider came 1 s after the last socket opened; the heartbeat
    # (0.5 s) ends each loop.
    assert seen["elapsed"] < 1.0 + 5.0, seen["elapsed"]
    assert time.monotonic() - started < 60
