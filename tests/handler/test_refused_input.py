"""A request with a bad meta value fails with an error naming the key, and
nothing reaches the server; a bad setting stops the crawl at start."""

from __future__ import annotations

import json
import logging
import re
import urllib.request

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from scrapy_tlsclient import TLSClientMiddleware, TLSClientSettingsError

from bad_input_cases import META_CASES, SETTING_CASES
from conftest import Servers
from handler_utils import open_handler


def accepted_connections(base_url: str) -> int:
    """Connections the plain HTTP test server has accepted, this one included."""
    with urllib.request.urlopen(f"{base_url}/conns", timeout=10) as response:
        count: int = json.load(response)["accepted"]
    return count


@deferred_f_from_coro_f
async def test_bad_meta_values_send_nothing(servers: Servers) -> None:
    before = accepted_connections(servers.http)
    async with open_handler() as handler:
        for key, value, message in META_CASES:
            request = Request(f"{servers.http}/echo", meta={key: value})
            with pytest.raises(ValueError, match=message):
                await handler.download_request(request)
        assert len(handler._sessions) == 0  # no native client was even created
    assert accepted_connections(servers.http) == before + 1  # only the count request itself


@pytest.mark.parametrize(("name", "value", "message"), SETTING_CASES, ids=lambda v: repr(v)[:40])
@deferred_f_from_coro_f
async def test_bad_settings_stop_the_handler_and_the_middleware(
    name: str, value: object, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(NotConfigured, match=message):
        async with open_handler(**{name: value}):
            pass
    caplog.clear()
    # Not NotConfigured, which Scrapy's middleware manager would swallow.
    with pytest.raises(TLSClientSettingsError, match="error logged above names the setting"):
        TLSClientMiddleware.from_crawler(get_crawler(settings_dict={name: value}))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert re.search(message, errors[0]), errors
