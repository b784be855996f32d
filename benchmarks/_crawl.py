"""The child side every crawl benchmark shares: one crawl in this process,
with Scrapy's extras that would only add noise turned off."""

from __future__ import annotations

from typing import Any, TypeVar

#: Off in every benchmark crawl: logging below ERROR, robots.txt, cookies,
#: retries, the telnet console and the HTTP cache.
QUIET_SETTINGS: dict[str, Any] = {
    "LOG_LEVEL": "ERROR",
    "ROBOTSTXT_OBEY": False,
    "COOKIES_ENABLED": False,
    "RETRY_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "HTTPCACHE_ENABLED": False,
}

_S = TypeVar("_S")


def crawl(spider_class: type[_S], settings: dict[str, Any], **spider_kwargs: Any) -> _S:
    """Run one crawl of ``spider_class`` to its end; the spider afterwards."""
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess({**QUIET_SETTINGS, **settings})
    crawler = process.create_crawler(spider_class)
    process.crawl(crawler, **spider_kwargs)
    process.start()
    spider = crawler.spider
    assert isinstance(spider, spider_class)
    return spider


def describe(failure: Any) -> str:
    """A Twisted Failure in one line: its exception's class and message."""
    return f"{failure.type.__name__ if failure.type else 'error'}: {failure.getErrorMessage()}"
