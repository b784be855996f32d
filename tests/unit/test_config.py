"""Settings are validated at start, with the setting named in the error."""

from __future__ import annotations

import logging

import pytest
from scrapy.settings import Settings

from scrapy_tlsclient._config import HandlerConfig, TLSClientSettingsError, warn_ignored_tls_settings


def config(**values: object) -> HandlerConfig:
    return HandlerConfig.from_settings(Settings(values))


def test_defaults_follow_scrapy() -> None:
    c = config()
    assert c.verify_certificates is False
    assert c.max_sessions == 64
    assert c.threads == 16 + 10  # CONCURRENT_REQUESTS + REACTOR_THREADPOOL_MAXSIZE
    assert c.bind_address is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"TLS_CLIENT_MAX_SESSIONS": 0}, "TLS_CLIENT_MAX_SESSIONS must be a positive integer"),
        ({"TLS_CLIENT_MAX_SESSIONS": "many"}, "TLS_CLIENT_MAX_SESSIONS must be an integer"),
        ({"DOWNLOAD_MAXSIZE": -1}, "DOWNLOAD_MAXSIZE must be 0"),
        ({"CONCURRENT_REQUESTS": 0}, "CONCURRENT_REQUESTS must be a positive integer"),
        ({"DOWNLOAD_BIND_ADDRESS": ("127.0.0.1",)}, "DOWNLOAD_BIND_ADDRESS must be a host string"),
        ({"TLS_CLIENT_LIBRARY_PATH": 5}, "TLS_CLIENT_LIBRARY_PATH must be a path string"),
    ],
)
def test_bad_values_are_refused_by_name(values: dict[str, object], message: str) -> None:
    with pytest.raises(TLSClientSettingsError, match=message):
        config(**values)


def test_tls_version_settings_are_reported_as_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scrapy_tlsclient"):
        warn_ignored_tls_settings(Settings({"DOWNLOAD_TLS_MIN_VERSION": "TLSv1.2"}))
    assert "DOWNLOAD_TLS_MIN_VERSION = 'TLSv1.2' is ignored" in caplog.text


def test_debug_setting_must_be_boolean() -> None:
    assert config(TLS_CLIENT_DEBUG="true").debug is True
    with pytest.raises(TLSClientSettingsError, match="TLS_CLIENT_DEBUG must be a boolean"):
        config(TLS_CLIENT_DEBUG="sometimes")


def test_a_handler_that_finds_a_bad_setting_fails_the_downloader_or_closes_the_spider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from scrapy import signals
    from scrapy.exceptions import CloseSpider, NotConfigured
    from scrapy.utils.misc import build_from_crawler
    from scrapy.utils.test import get_crawler

    from scrapy_tlsclient import TLSClientSettingsError
    from scrapy_tlsclient.handler import BAD_SETTINGS_REASON, _BadSettingsGuard, _stop_at_start

    crawler = get_crawler()
    crawler.settings.freeze()
    with pytest.raises(NotConfigured):  # a crawler whose handlers found nothing wrong
        build_from_crawler(_BadSettingsGuard, crawler)
    with caplog.at_level(logging.ERROR, logger="scrapy_tlsclient"):
        for _ in ("http", "https"):
            assert "bad" in str(_stop_at_start(crawler, TLSClientSettingsError("TLS_CLIENT_X is bad")))
    assert [r.getMessage() for r in caplog.records] == ["TLS_CLIENT_X is bad"]
    assert crawler.settings.frozen
    assert crawler.settings.getdict("DOWNLOADER_MIDDLEWARES") == {
        "scrapy_tlsclient.handler._BadSettingsGuard": 0
    }
    with pytest.raises(TLSClientSettingsError, match="the error logged above names the setting"):
        build_from_crawler(_BadSettingsGuard, crawler)
    # Should the guard not be built, the spider closes as it opens.
    results = crawler.signals.send_catch_log(signals.spider_opened, spider=None, dont_log=CloseSpider)
    raised = [getattr(result, "value", result) for _, result in results]  # a Failure, from send_catch_log
    assert [e.reason for e in raised if isinstance(e, CloseSpider)] == [BAD_SETTINGS_REASON]
