"""Scrapy's aiohttp download handler, built at the first request.

Crawled beside the others (``handler_crawl.py --handler-path
aiohttp=_lazy_aiohttp.LazyAiohttpHandler``), it shows what a transport in
the event loop's own thread, with no second runtime, costs per page. Scrapy
builds a handler that is not lazy before the crawl's event loop runs, and
this one makes its ``aiohttp.ClientSession`` in ``__init__``, which needs a
running loop ("no running event loop"); as a lazy handler it is built when
the first request needs it, inside the loop.
"""

from __future__ import annotations

from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler


class LazyAiohttpHandler(AiohttpDownloadHandler):
    lazy = True
