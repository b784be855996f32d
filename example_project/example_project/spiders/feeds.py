"""Streaming APIs: one item per Server-Sent Event and per NDJSON line, as
they arrive; each item and log line carries the event's arrival time
(seconds since the response's headers), which shows them coming one by one.

    scrapy crawl sse -a url=https://localhost:8443/sse -a limit=20
    scrapy crawl ndjson -a url=https://localhost:8443/ndjson -a limit=20

https://localhost:8443 is the example project's demo site: start it first
with ``python demo_site.py`` in example_project/ (docs/demo_site.rst), or
let ``python run_demo.py`` start it and run the spider. Any other site: ``-a url=...``.

``limit`` stops after that many events (0: never; the feed may be endless).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import scrapy

from scrapy_tlsclient import stream_of


class _FeedSpider(scrapy.Spider):
    url = ""
    limit = "0"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.url:
            raise ValueError(f"give the feed's URL: scrapy crawl {self.name} -a url=...")
        # The response reaches parse() at its headers; the body streams.
        yield scrapy.Request(self.url, meta={"tls_client_stream": True}, dont_filter=True)

    def arrived(self, started: float, what: str) -> float:
        """Log an event's arrival; its time in seconds since the headers."""
        seconds = round(time.monotonic() - started, 3)
        self.logger.info("+%.3f s %s", seconds, what)
        return seconds


class SSESpider(_FeedSpider):
    name = "sse"

    async def parse(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        limit = int(self.limit)
        started = time.monotonic()
        async with stream_of(response) as stream:
            count = 0
            async for event in stream.sse(reconnect=True):
                arrived = self.arrived(started, f"event {event.id} ({event.event}): {event.data}")
                yield {
                    "feed": "sse",
                    "id": event.id,
                    "event": event.event,
                    "data": event.data,
                    "arrived_s": arrived,
                }
                count += 1
                if count == limit:
                    break


class NDJSONSpider(_FeedSpider):
    name = "ndjson"

    async def parse(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        limit = int(self.limit)
        started = time.monotonic()
        async with stream_of(response) as stream:
            count = 0
            async for value in stream.ndjson():
                arrived = self.arrived(started, f"line {value}")
                yield {"feed": "ndjson", "value": value, "arrived_s": arrived}
                count += 1
                if count == limit:
                    break
