"""FailoverMiddleware's request/response logic with Scrapy's own header
middlewares and TLSClientMiddleware around it (no download): each request
carries one identity whole, a blocked one comes back as a retry that is
another identity whole, hooks and settings are honoured, and a bad pool
stops the crawl at start."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.downloadermiddlewares.defaultheaders import DefaultHeadersMiddleware
from scrapy.downloadermiddlewares.useragent import UserAgentMiddleware
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from scrapy_tlsclient import TLSClientMiddleware, TLSClientSettingsError
from scrapy_tlsclient._browsers import browser_for
from scrapy_tlsclient._config import HandlerConfig
from scrapy_tlsclient._failover_settings import FailoverSettings
from scrapy_tlsclient._identities import load_identities, packaged_identity_files
from scrapy_tlsclient.failover import FailoverMiddleware

IDENTITIES = load_identities(packaged_identity_files())
POOL = ("chrome_156_windows", "firefox_153esr_windows", "safari_26_macos")
FAILOVER = "scrapy_tlsclient.failover.FailoverMiddleware"
CHAIN = {FAILOVER: 580, "scrapy_tlsclient.TLSClientMiddleware": 950}


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Chain:
    """Scrapy's header middlewares, FailoverMiddleware and TLSClientMiddleware
    in their order, as the downloader runs them."""

    def __init__(self, **settings: Any) -> None:
        settings = {"TLS_CLIENT_FAILOVER_POOL": list(POOL), **settings}
        self.crawler = get_crawler(Spider, settings_dict=settings)
        self.crawler.spider = self.crawler._create_spider("unit")
        self.clock = Clock()
        config = HandlerConfig.from_settings(Settings(settings))
        assert config.failover is not None
        self.failover = FailoverMiddleware(
            config.failover,
            POOL,
            stats=self.crawler.stats,
            clock=self.clock,
            spider=lambda: self.crawler.spider,
        )
        self.before = [
            DefaultHeadersMiddleware.from_crawler(self.crawler),
            UserAgentMiddleware.from_crawler(self.crawler),
        ]
        self.after = TLSClientMiddleware(config, frozenset(IDENTITIES))

    def send(self, request: Request) -> Request:
        for middleware in self.before:
            middleware.process_request(request)
        assert self.failover.process_request(request) is None
        self.after.process_request(request)
        return request

    def answer(
        self, request: Request, status: int = 200, body: bytes = b"<html></html>", **headers: str
    ) -> Any:
        response = HtmlResponse(request.url, status=status, body=body, headers=headers, request=request)
        return self.failover.process_response(request, response)


def header(request: Request, name: str) -> str | None:
    value = request.headers.get(name)
    return value.decode() if value is not None else None


def assert_whole(request: Request, identity: str) -> None:
    """Profile, session, jar and every identity header are ``identity``'s."""
    meta = request.meta
    assert meta["tls_client_identity"] == meta["tls_client_profile"] == identity
    assert meta["tls_client_session"] == f"tls_client_identity:{identity}"
    assert meta["cookiejar"].startswith(f"tls_client_identity:{identity}:")
    data = IDENTITIES[identity]
    assert header(request, "User-Agent") == data.user_agent
    hints = dict(data.client_hints)
    assert header(request, "sec-ch-ua") == hints.get("sec-ch-ua")
    assert header(request, "sec-ch-ua-platform") == hints.get("sec-ch-ua-platform")
    browser = browser_for(identity)
    assert browser is not None
    sent = [name.decode().lower() for name in request.headers]
    navigation = [name for name, _ in browser.headers if name in sent]
    assert [name for name in sent if name in navigation] == navigation


def test_a_blocked_request_is_retried_as_another_whole_identity() -> None:
    chain = Chain()
    request = chain.send(Request("https://www.example.com/a"))
    assert_whole(request, "chrome_156_windows")
    retry = chain.answer(request, 403, b"<title>Just a moment...</title>")
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert retry.meta["tls_client_identity"] == "firefox_153esr_windows"
    # No header of the blocked identity is left for the next one to keep.
    assert header(retry, "sec-ch-ua") is None and header(retry, "User-Agent") is None
    assert_whole(chain.send(retry), "firefox_153esr_windows")
    stats = chain.crawler.stats
    assert stats.get_value("retry/reason_count/blocked: 403 cloudflare") == 1
    assert stats.get_value("tls_client/identity/example.com/chrome_156_windows/requests") == 1
    assert stats.get_value("tls_client/identity/example.com/chrome_156_windows/blocks") == 1
    # The next request to the site (another host of it) avoids the blocked
    # identity; once firefox passes, it is the site's.
    other = chain.send(Request("https://shop.example.com/b"))
    assert_whole(other, "firefox_153esr_windows")
    assert chain.answer(other).status == 200
    assert stats.get_value("tls_client/identity/example.com/firefox_153esr_windows/passes") == 1
    chain.clock.now += 3600
    assert_whole(chain.send(Request("https://example.com/c")), "firefox_153esr_windows")


def test_a_retry_keeps_the_spiders_own_no_cache() -> None:
    chain = Chain()
    # Pragma/Cache-Control: no-cache are the identities' only on a
    # WebSocket handshake: a page's request keeps the spider's.
    page = chain.send(Request("https://www.example.com/a", headers={"Cache-Control": "no-cache"}))
    retry = chain.answer(page, 403, b"<title>Just a moment...</title>")
    assert isinstance(retry, Request) and header(retry, "Cache-Control") == "no-cache"
    assert header(chain.send(retry), "Cache-Control") == "no-cache"


def test_the_site_identity_change_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    chain = Chain()
    caplog.set_level(logging.INFO, "scrapy_tlsclient")
    first = chain.send(Request("https://example.com/1"))
    chain.answer(first)
    second = chain.send(Request("https://example.com/2"))
    retry = chain.answer(second, 429, b"", **{"Retry-After": "120"})
    for n in range(3):
        chain.answer(chain.send(Request(f"https://example.com/ok{n}")))
    chain.answer(chain.send(retry))
    lines = [
        r.getMessage() for r in caplog.records if r.name == "scrapy_tlsclient" and r.levelno == logging.INFO
    ]
    assert lines == [
        "Site example.com: identity chrome_156_windows -> firefox_153esr_windows "
        "(chrome_156_windows blocked: 429, cooling down 120 s more)"
    ]


def test_requests_that_pin_their_identity_are_left_alone() -> None:
    chain = Chain()
    pinned = [
        Request("https://example.com/", meta={"tls_client_profile": "chrome_156_linux"}),
        Request("https://example.com/", meta={"tls_client_session": "login"}),
        Request("https://example.com/", meta={"tls_client_failover": False}),
        Request("https://example.com/", headers={"User-Agent": "MyBot/1.0"}),
    ]
    for request in pinned:
        before = dict(request.meta)
        chain.failover.process_request(request)
        assert request.meta == before
        assert chain.answer(request, 403).status == 403
    # A spider's own cookie jar is kept apart per identity.
    jar = chain.send(Request("https://example.com/", meta={"cookiejar": 7}))
    assert jar.meta["cookiejar"] == "tls_client_identity:chrome_156_windows:7"
    retry = chain.answer(jar, 403)
    assert chain.send(retry).meta["cookiejar"] == "tls_client_identity:firefox_153esr_windows:7"


def test_the_users_hooks_decide_blocks_and_proxies() -> None:
    asked: list[tuple[str, str]] = []

    def proxy(site: str, identity: str) -> str:
        asked.append((site, identity))
        return f"http://{identity.replace('_', '-')}.proxy:8080"

    def check(response: Any, request: Any) -> str | bool | None:
        if b"soft wall" in response.body:
            return "soft-wall"
        return False if response.status == 403 else None

    chain = Chain(TLS_CLIENT_FAILOVER_PROXY=proxy, TLS_CLIENT_FAILOVER_BLOCK_CHECK=check)
    request = chain.send(Request("https://example.com/"))
    assert request.meta["proxy"] == "http://chrome-156-windows.proxy:8080"
    assert chain.answer(request, 403).status == 403  # the hook says: not a block
    request = chain.send(Request("https://example.com/2"))
    retry = chain.answer(request, 200, b"a soft wall")
    assert isinstance(retry, Request)
    assert chain.crawler.stats.get_value("retry/reason_count/blocked: 200 soft-wall") == 1
    assert chain.send(retry).meta["proxy"] == "http://firefox-153esr-windows.proxy:8080"
    assert asked == [("example.com", "chrome_156_windows"), ("example.com", "firefox_153esr_windows")]


def test_the_retry_budget_ends_in_scrapys_give_up_path(caplog: pytest.LogCaptureFixture) -> None:
    chain = Chain(RETRY_TIMES=2)
    request = chain.send(Request("https://example.com/never"))
    identities = []
    result: Any = request
    for _ in range(5):
        identities.append(result.meta["tls_client_identity"])
        result = chain.answer(result, 503, b"<title>Just a moment...</title>")
        if not isinstance(result, Request):
            break
        chain.send(result)
    # RetryMiddleware, next on the way out, must not retry (or log) it again.
    assert result.status == 503 and result.request.meta["dont_retry"] is True
    assert identities == list(POOL)
    assert chain.crawler.stats.get_value("retry/max_reached") == 1
    assert any(
        "Gave up retrying <GET https://example.com/never> (failed 3 times): blocked: 503 cloudflare"
        in r.getMessage()
        for r in caplog.records
    )
    # The third identity was not put on a cool-down: three identities in a
    # row refused the page, so the page is what is refused.
    assert chain.failover.state.available("example.com", "safari_26_macos")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"TLS_CLIENT_FAILOVER_POOL": ["chrome_156_linx"]},
            "unknown tls-client profile 'chrome_156_linx' .close matches: chrome_156_linux",
        ),
        (
            {"TLS_CLIENT_FAILOVER_POOL": ["okhttp4_android_13"]},
            "'okhttp4_android_13' imitates an app, not a browser",
        ),
        (
            {"DOWNLOADER_MIDDLEWARES": {FAILOVER: 580}},
            "FailoverMiddleware needs TLSClientMiddleware enabled after it",
        ),
        (
            {"DOWNLOADER_MIDDLEWARES": {FAILOVER: 580, "scrapy_tlsclient.TLSClientMiddleware": 100}},
            "FailoverMiddleware needs TLSClientMiddleware enabled after it",
        ),
        (
            {"TLS_CLIENT_BROWSER_HEADERS": False},
            "TLS_CLIENT_BROWSER_HEADERS is False: FailoverMiddleware needs it",
        ),
    ],
)
def test_a_bad_pool_or_chain_stops_the_crawl_at_start(
    settings: dict[str, Any], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    crawler = get_crawler(Spider, settings_dict={"DOWNLOADER_MIDDLEWARES": CHAIN, **settings})
    with pytest.raises(TLSClientSettingsError, match="error logged above names the setting"):
        FailoverMiddleware.from_crawler(crawler)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and re.search(message, errors[0]), errors


def test_the_default_pool_is_every_identity_with_the_default_profile_first() -> None:
    crawler = get_crawler(Spider, settings_dict={"DOWNLOADER_MIDDLEWARES": CHAIN})
    middleware = FailoverMiddleware.from_crawler(crawler)
    pool = middleware.state.pool
    assert pool[0] == "chrome_156_windows" and set(pool) >= set(IDENTITIES)


def test_settings_from_the_command_line() -> None:
    settings = FailoverSettings.from_settings(
        Settings(
            {
                "TLS_CLIENT_FAILOVER_POOL": "chrome_156_linux, safari_26_ios",
                "TLS_CLIENT_FAILOVER_BLOCK_CODES": "403,429",
                "TLS_CLIENT_FAILOVER_COOLDOWN": "30",
                "TLS_CLIENT_FAILOVER_SITE": "host",
            }
        )
    )
    assert settings.pool == ("chrome_156_linux", "safari_26_ios")
    assert settings.block_codes == {403, 429} and settings.cooldown == 30 and settings.site == "host"
