"""Every meta key and setting refuses bad values by name (pure parts; the
handler tests check that such a request is never sent)."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.settings import Settings

from scrapy_tlsclient._config import HandlerConfig, TLSClientSettingsError
from scrapy_tlsclient._request_input import META_KEYS, request_input_from
from scrapy_tlsclient.middleware import TLSClientMiddleware

from bad_input_cases import META_CASES, SETTING_CASES

PROFILES = frozenset({"chrome_150", "chrome_131", "firefox_147", "safari_ios_18_5"})
CONFIG = HandlerConfig.from_settings(Settings())


@pytest.mark.parametrize(("key", "value", "message"), META_CASES, ids=lambda v: repr(v)[:40])
def test_bad_meta_fails_the_mapping(key: str, value: object, message: str) -> None:
    request = Request("https://example.com/", meta={key: value})
    with pytest.raises(ValueError, match=message):
        request_input_from(request, CONFIG, stream_id="s", profiles=PROFILES)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        case
        for case in META_CASES
        if case[0] in ("tls_client_profile", "tls_client_browser_headers", "tls_client_request_kind")
    ],
    ids=lambda v: repr(v)[:40],
)
def test_bad_meta_fails_in_the_middleware(key: str, value: object, message: str) -> None:
    middleware = TLSClientMiddleware(CONFIG, PROFILES)
    with pytest.raises(ValueError, match=message):
        middleware.process_request(Request("https://example.com/", meta={key: value}))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [case for case in SETTING_CASES if "unknown tls-client profile" not in case[2]],
    ids=lambda v: repr(v)[:40],
)
def test_bad_settings_fail_the_config(name: str, value: object, message: str) -> None:
    with pytest.raises(TLSClientSettingsError, match=message):
        HandlerConfig.from_settings(Settings({name: value}))


def test_every_meta_key_has_bad_cases() -> None:
    covered = {key for key, _, _ in META_CASES}
    assert META_KEYS | {"download_timeout", "proxy", "bindaddress"} <= covered


def test_every_setting_has_bad_cases() -> None:
    from scrapy_tlsclient._config import DEFAULT_SETTINGS

    assert set(DEFAULT_SETTINGS) <= {name for name, _, _ in SETTING_CASES}


def test_messages_name_the_accepted_values() -> None:
    request = Request(
        "https://example.com/", meta={"tls_client_custom_tls": {"ja3String": "1,2,3,4,5", "bogus": 1}}
    )
    with pytest.raises(
        ValueError, match=r"unknown field 'bogus'; accepted: ECHCandidateCipherSuites, .*ja3String"
    ):
        request_input_from(request, CONFIG, stream_id="s", profiles=PROFILES)
