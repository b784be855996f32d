"""A WebSocket feed: subscribe, then one item per message as it arrives,
with its arrival time (seconds since the handshake's 101).

    scrapy crawl ticker -a url=wss://localhost:8443/ws/ticker -a limit=20

wss://localhost:8443 is the example project's demo site: start it first
with ``python demo_site.py`` in example_project/ (docs/demo_site.rst), or
let ``python run_demo.py websocket`` start it and run the spider. Any other
feed: ``-a url=wss://...`` and ``-a subscribe=...``.

``limit`` stops after that many messages (0: never), closing the socket
with a close frame (1000).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import scrapy

from scrapy_tlsclient import websocket_of


class TickerSpider(scrapy.Spider):
    name = "ticker"
    url = ""
    limit = "0"
    subscribe = "ACME"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.url:
            raise ValueError("give the feed's URL: scrapy crawl ticker -a url=wss://...")
        # A browser opening a WebSocket sends the page's origin.
        origin = self.url.replace("wss://", "https://", 1).replace("ws://", "http://", 1).split("/ws/")[0]
        yield scrapy.Request(self.url, headers={"Origin": origin}, dont_filter=True)

    async def parse(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        started = time.monotonic()
        ws = websocket_of(response)
        await ws.send(json.dumps({"subscribe": self.subscribe}))
        limit = int(self.limit)
        count = 0
        async for message in ws:
            seconds = round(time.monotonic() - started, 3)
            self.logger.info("+%.3f s message %s", seconds, message.text)
            yield {"feed": "ticker", "arrived_s": seconds, "quote": message.json()}
            count += 1
            if limit and count >= limit:
                break  # closes the socket (1000)
        else:
            self.logger.info("the feed closed: %s %s", ws.close_code, ws.close_reason)
