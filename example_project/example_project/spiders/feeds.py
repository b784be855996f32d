"""Streaming APIs: one item per Server-Sent Event and per NDJSON line, as
they arrive.

    scrapy crawl sse -a url=https://127.0.0.1:8443/sse -a limit=20
    scrapy crawl ndjson -a url=https://127.0.0.1:8443/ndjson -a limit=20

``limit`` stops after that many events (0: never; the feed may be endless).
"""

from __future__ import annotations

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


class SSESpider(_FeedSpider):
    name = "sse"

    async def parse(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        limit = int(self.limit)
        async with stream_of(response) as stream:
            count = 0
            async for event in stream.sse(reconnect=True):
                yield {"feed": "sse", "id": event.id, "event": event.event, "data": event.data}
                count += 1
                if count == limit:
                    break


class NDJSONSpider(_FeedSpider):
    name = "ndjson"

    async def parse(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        limit = int(self.limit)
        async with stream_of(response) as stream:
            count = 0
            async for value in stream.ndjson():
                yield {"feed": "ndjson", "value": value}
                count += 1
                if count == limit:
                    break
