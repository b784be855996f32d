"""Helpers for handler tests: a handler on a real crawler, closed after use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from scrapy.utils.test import get_crawler

from scrapy_tlsclient import TLSClientDownloadHandler


@asynccontextmanager
async def open_handler(**settings: Any) -> AsyncIterator[TLSClientDownloadHandler]:
    crawler = get_crawler(settings_dict=settings)
    crawler.spider = crawler._create_spider("handler-test")
    handler = TLSClientDownloadHandler.from_crawler(crawler)
    try:
        yield handler
    finally:
        await handler.close()
