"""The demo site's /shop/ catalogue, crawled by any number of processes
that share one queue and one duplicate filter in Redis (scrapy-redis).

    SCRAPY_SETTINGS_MODULE=example_project.settings_distributed \\
    REDIS_URL=redis://127.0.0.1:6379/0 scrapy crawl shop

Start URLs come from the Redis list ``shop:start_urls``, one JSON object
each: ``{"url": "https://...", "meta": {"tls_client_profile": "..."}}``
(``run_distributed.py`` starts everything and seeds it). Each page request
carries its browser profile in ``tls_client_profile``: it travels with the
request through Redis to whichever process fetches it. A page's item holds
the profile, the fingerprint the site echoed and which processes scheduled
and fetched it; product files go through TLSFilesPipeline, and each
category's stock feed is read as a stream, one item per line.

``-a files=0`` / ``-a feeds=0`` leave out the files / the feeds (pages
only, as the scale-out benchmark crawls).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.spiders import RedisSpider
from scrapy_redis.utils import bytes_to_str

from example_project.files import FILES_SETTINGS
from scrapy_tlsclient import stream_of

PROFILES = ("chrome_150", "firefox_135", "safari_ios_18_5")


def profile_for(url: str) -> str:
    """A page's profile, the same in every process (unlike hash(), crc32 is
    not salted per process)."""
    return PROFILES[zlib.crc32(urlsplit(url).path.encode()) % len(PROFILES)]


class ShopSpider(RedisSpider):
    name = "shop"
    custom_settings = FILES_SETTINGS
    # One start URL per process at a time: with a start URL each, all the
    # processes of the fleet begin at once instead of the first taking all.
    redis_batch_size = 1
    files = "1"
    feeds = "1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_since: float | None = None

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Scrapy >= 2.13 asks start(), not RedisSpider's start_requests().
        for request in self.next_requests():
            yield request

    def make_request_from_data(self, data: bytes) -> scrapy.Request | None:
        """A start URL from Redis. scrapy-redis's own makes it bypass the
        duplicate filter (dont_filter): a start URL that a page links to
        as well would then be fetched twice."""
        try:
            seed = json.loads(bytes_to_str(data, self.redis_encoding))
        except ValueError:
            seed = None
        if not isinstance(seed, dict) or not isinstance(seed.get("url"), str):
            self.logger.warning("Ignored start URL %r: not {'url': ..., 'meta': {...}}", data[:200])
            return None
        return self.page_request(seed["url"], seed.get("meta") or {})

    def page_request(self, url: str, meta: dict[str, Any] | None = None) -> scrapy.Request:
        meta = {"tls_client_profile": profile_for(url), "scheduled_by": os.getpid(), **(meta or {})}
        return scrapy.Request(url, meta=meta)

    def parse(self, response: scrapy.http.Response) -> Iterator[Any]:
        self._idle_since = None
        files = response.css("a.file::attr(href)").getall() if self.files != "0" else []
        yield {
            "kind": "page",
            "url": response.url,
            "profile": response.meta["tls_client_profile"],
            "seen_ja4": response.css('meta[name="tls-ja4"]::attr(content)').get(),
            "seen_user_agent": response.css('meta[name="tls-user-agent"]::attr(content)').get(),
            "scheduled_by": response.meta.get("scheduled_by"),
            "fetched_by": os.getpid(),
            "file_urls": [response.urljoin(href) for href in files],
        }
        for href in response.css("a.page::attr(href)").getall():
            yield self.page_request(response.urljoin(href))
        if self.feeds != "0":
            for href in response.css("a.feed::attr(href)").getall():
                request = self.page_request(response.urljoin(href))
                request.meta["tls_client_stream"] = True
                yield request.replace(callback=self.parse_stock)

    async def parse_stock(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        self._idle_since = None
        async with stream_of(response) as stream:
            async for line in stream.ndjson():
                yield {"kind": "stock", "feed": response.url, **line, "fetched_by": os.getpid()}

    def spider_idle(self) -> None:
        """Take more start URLs; close once idle MAX_IDLE_TIME_BEFORE_CLOSE
        seconds in a row. (scrapy-redis's own counts from the time its module
        was imported and resets only while start URLs wait, so a process busy
        longer than the limit closes at its first idle moment, while the
        others may still be adding requests.)"""
        scheduled = 0
        for request in self.next_requests():
            self.crawler.engine.crawl(request)
            scheduled += 1
        now = time.monotonic()
        if scheduled or self._idle_since is None:
            self._idle_since = now
        if self.max_idle_time and now - self._idle_since >= self.max_idle_time:
            return  # Scrapy closes the spider: finished
        raise DontCloseSpider
