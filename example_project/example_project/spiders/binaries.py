"""Binaries through TLSFilesPipeline: each file streams to disk, never
held in memory (ITEM_PIPELINES and FILES_STORE in custom_settings).

    scrapy crawl binaries -a url=https://127.0.0.1:8443/files/
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy

from example_project.files import FILES_SETTINGS


class BinariesSpider(scrapy.Spider):
    name = "binaries"
    custom_settings = FILES_SETTINGS
    url = ""

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.url:
            raise ValueError("give the downloads page: scrapy crawl binaries -a url=...")
        yield scrapy.Request(self.url)

    def parse(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        # One item per linked file; the pipeline downloads and stores it.
        for href in response.css("a::attr(href)").getall():
            yield {"name": href.rsplit("/", 1)[-1], "file_urls": [response.urljoin(href)]}
