"""Per-request browser profiles, seen on the wire by the test server."""

from __future__ import annotations

import json

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_f_from_coro_f

from conftest import Servers
from handler_utils import open_handler


@deferred_f_from_coro_f
async def test_profile_setting_and_meta_reach_the_client_hello(servers: Servers) -> None:
    async def hello(handler: object, **meta: object) -> dict[str, list[int]]:
        response = await handler.download_request(Request(f"{servers.h2}/tls", meta=meta))  # type: ignore[attr-defined]
        result: dict[str, list[int]] = json.loads(response.body)
        return result

    async with open_handler(TLS_CLIENT_PROFILE="firefox_147") as handler:
        firefox = await hello(handler)
        chrome = await hello(handler, tls_client_profile="chrome_150")
        again = await hello(handler, tls_client_profile="firefox_147")
    # Measured fingerprints (shared/research/fingerprints.md): JA4 t13d1717 for
    # firefox_147, t13d1516 for chrome_150 (the count includes GREASE here).
    assert firefox["cipher_suites"] == again["cipher_suites"]
    assert firefox["cipher_suites"] != chrome["cipher_suites"]
    assert firefox["extensions"] != chrome["extensions"]


@deferred_f_from_coro_f
async def test_unknown_profiles_are_refused(servers: Servers) -> None:
    async with open_handler() as handler:
        with pytest.raises(ValueError, match=r"close matches: [a-z0-9_, ]*chrome_150"):
            await handler.download_request(
                Request(f"{servers.h2}/tls", meta={"tls_client_profile": "chrome_15O"})
            )
    with pytest.raises(
        NotConfigured, match="TLS_CLIENT_PROFILE setting: unknown tls-client profile 'firefox_999'"
    ):
        async with open_handler(TLS_CLIENT_PROFILE="firefox_999"):
            pass
