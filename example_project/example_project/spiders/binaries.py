"""Binaries through TLSFilesPipeline: each file streams to disk, never
held in memory (settings: ITEM_PIPELINES and FILES_STORE).

    scrapy crawl binaries -a url=https://127.0.0.1:8443/files/
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy


class BinariesSpider(scrapy.Spider):
    name = "binaries"
    url = ""

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.url:
            raise ValueError("give the downloads page: scrapy crawl binaries -a url=...")
        yield scrapy.Request(self.url)

    def parse(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        # One item per linked file; the pipeline downloads and stores it.
        for href in response.css("a::attr(href)").getall():
            yield {"name": href.rsplit("/", 1)[-1], "file_urls": [response.urljoin(href)]}
