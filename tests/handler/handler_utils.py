"""Helpers for handler tests: a handler on a real crawler, closed after use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.utils.asyncio import is_asyncio_available
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.test import get_crawler
from twisted.internet import defer

from scrapy_tlsclient import TLSClientDownloadHandler
from scrapy_tlsclient._event_loop import sleep
from scrapy_tlsclient.binding import get_library

_H = TypeVar("_H", TLSClientDownloadHandler, HTTP11DownloadHandler)


@asynccontextmanager
async def _open(handler_class: type[_H], spider_name: str, settings: dict[str, Any]) -> AsyncIterator[_H]:
    crawler = get_crawler(settings_dict=settings)
    crawler.spider = crawler._create_spider(spider_name)
    handler = handler_class.from_crawler(crawler)
    try:
        yield handler
    finally:
        await handler.close()


def open_handler(**settings: Any) -> AbstractAsyncContextManager[TLSClientDownloadHandler]:
    return _open(TLSClientDownloadHandler, "handler-test", settings)


def open_http11(**settings: Any) -> AbstractAsyncContextManager[HTTP11DownloadHandler]:
    """Scrapy's own handler, for the same request side by side."""
    return _open(HTTP11DownloadHandler, "http11", settings)


async def gather(*coros: object) -> list[object]:
    """Run coroutines concurrently on whichever loop drives Scrapy."""
    if is_asyncio_available():
        return list(await asyncio.gather(*coros, return_exceptions=True))  # type: ignore[arg-type]
    deferreds = [deferred_from_coro(c) for c in coros]
    results = await maybe_deferred_to_future(defer.DeferredList(deferreds, consumeErrors=True))
    return [value if ok else value.value for ok, value in results]


async def library_count_settled(stat: str, limit_s: float) -> int:
    """The library's ``stats()[stat]`` (open streams, open WebSockets),
    once what is closing has had ``limit_s`` to close."""
    deadline = time.monotonic() + limit_s
    while (count := get_library().stats()[stat]) and time.monotonic() < deadline:
        await sleep(0.02)
    return int(count)
