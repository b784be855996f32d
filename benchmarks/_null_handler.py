"""A download handler that sends nothing: each request gets a response of
the size its ``/bytes?n=`` URL asks for, at once. Crawled beside the others
(``handler_crawl.py --handler-path null=_null_handler.NullHandler``), it
measures what Scrapy itself spends per page, the share no handler can
save."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response


class NullHandler:
    lazy = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NullHandler:
        return cls()

    async def download_request(self, request: Request, spider: Any = None) -> Response:
        size = int(parse_qs(urlsplit(request.url).query).get("n", ["0"])[0])
        return Response(request.url, status=200, body=b"x" * size, request=request)

    async def close(self) -> None:
        pass
