"""SSLKEYLOGFILE is read by each handler when it is created, as Scrapy's own
handlers read it, although the library was loaded (and its environment
fixed) long before."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from scrapy_tlsclient import TLSClientDownloadHandler

from conftest import Servers
from handler_utils import open_handler, open_http11

KEY_LINE = "CLIENT_HANDSHAKE_TRAFFIC_SECRET "


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@deferred_f_from_coro_f
async def test_each_handler_writes_keys_where_sslkeylogfile_named_at_its_creation(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scrapy_tlsclient.binding import get_library

    get_library()  # loaded before the variable is set
    first, second, http11_keys = tmp_path / "first.log", tmp_path / "second.log", tmp_path / "http11.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(first))
    async with open_handler() as handler_one:
        monkeypatch.setenv("SSLKEYLOGFILE", str(second))
        async with open_handler() as handler_two:
            monkeypatch.delenv("SSLKEYLOGFILE")
            async with open_handler() as handler_none:
                for base in (servers.https, servers.h2):
                    for handler in (handler_one, handler_two, handler_none):
                        response = await handler.download_request(Request(f"{base}/echo"))
                        assert response.status == 200
    # One TLS 1.3 handshake per server and handler, each in its own file.
    assert first.read_text().count(KEY_LINE) == 2
    assert second.read_text().count(KEY_LINE) == 2
    assert files_in(tmp_path) == ["first.log", "second.log"]
    # Scrapy's handler does the same.
    monkeypatch.setenv("SSLKEYLOGFILE", str(http11_keys))
    async with open_http11() as http11:
        assert (await http11.download_request(Request(f"{servers.https}/echo"))).status == 200
    assert KEY_LINE in http11_keys.read_text()


@deferred_f_from_coro_f
async def test_unwritable_sslkeylogfile_warns_once_and_downloads_go_on(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "missing" / "keys.log"))
    crawler = get_crawler()
    crawler.spider = crawler._create_spider("keylog")
    with caplog.at_level(logging.WARNING):
        # Scrapy builds one handler per scheme from the same crawler.
        handlers = [TLSClientDownloadHandler.from_crawler(crawler) for _ in ("http", "https")]
        try:
            for handler in handlers:
                for base in (servers.https, servers.h2):
                    assert (await handler.download_request(Request(f"{base}/echo"))).status == 200
        finally:
            for handler in handlers:
                await handler.close()
    ours = [r for r in caplog.records if r.name == "scrapy_tlsclient" and "Cannot write TLS" in r.msg]
    assert len(ours) == 1, caplog.text
    assert not (tmp_path / "missing").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        async with open_http11() as http11:
            assert (await http11.download_request(Request(f"{servers.https}/echo"))).status == 200
    assert "Cannot write TLS session keys" in caplog.text
