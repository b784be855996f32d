"""Browser headers per profile, and how the middleware applies them."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.defaultheaders import DefaultHeadersMiddleware
from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.downloadermiddlewares.useragent import UserAgentMiddleware
from scrapy.settings import Settings, default_settings

from scrapy_tlsclient._browsers import browser_for, fetch_site, order_headers, request_kind, websocket_origin
from scrapy_tlsclient._config import DEFAULT_PROFILE, HandlerConfig
from scrapy_tlsclient.middleware import TLSClientMiddleware

PROFILES = frozenset({"chrome_150", "chrome_131", "firefox_147", "safari_ios_18_5", "okhttp4_android_13"})


@pytest.mark.parametrize(
    ("major", "sec_ch_ua"),
    [
        # As sent by those Chrome versions (the brand list is seeded by the
        # major version, so each version always sends the same value).
        (110, '"Chromium";v="110", "Not A(Brand";v="24", "Google Chrome";v="110"'),
        (116, '"Chromium";v="116", "Not)A;Brand";v="24", "Google Chrome";v="116"'),
        (120, '"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"'),
        (124, '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
        (131, '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
        (133, '"Not(A:Brand";v="99", "Google Chrome";v="133", "Chromium";v="133"'),
    ],
)
def test_chrome_brand_list(major: int, sec_ch_ua: str) -> None:
    browser = browser_for(f"chrome_{major}")
    assert browser is not None
    assert dict(browser.headers)["sec-ch-ua"] == sec_ch_ua


@pytest.mark.parametrize(
    ("profile", "first_six"),
    [
        # Chrome's header order, as curl_cffi's chrome impersonation and
        # tls-client send it (measured on this project's fingerprint server;
        # Chrome's own capture: native/captures/).
        (
            "chrome_150",
            "sec-ch-ua,sec-ch-ua-mobile,sec-ch-ua-platform,upgrade-insecure-requests,user-agent,accept",
        ),
        (
            "firefox_147",
            "user-agent,accept,accept-language,accept-encoding,upgrade-insecure-requests,sec-fetch-dest",
        ),
        ("safari_ios_18_5", "sec-fetch-dest,user-agent,accept,sec-fetch-site,sec-fetch-mode,accept-language"),
    ],
)
def test_navigation_header_order(profile: str, first_six: str) -> None:
    browser = browser_for(profile)
    assert browser is not None
    assert ",".join(name for name, _ in browser.headers[:6]) == first_six
    names = [name for name, _ in browser.headers]
    assert [name for name in browser.order if name in names] == names


def test_profiles_of_apps_have_no_browser() -> None:
    assert browser_for("okhttp4_android_13") is None
    assert browser_for("cloudscraper") is None
    assert browser_for("chrome_133_PSK") == browser_for("chrome_133")
    safari = browser_for("safari_ios_26_0")
    assert (
        safari is not None and "iPhone OS 18_6" in safari.user_agent and "Version/26.0" in safari.user_agent
    )


def test_fetch_site_from_referer() -> None:
    assert fetch_site("https://a.test/x", None) == "none"
    assert fetch_site("https://a.test/x", "https://a.test/y") == "same-origin"
    assert fetch_site("https://a.test/x", "http://a.test/y") == "same-site"
    assert fetch_site("https://a.test/x", "https://b.test/y") == "cross-site"


def scrapy_request(url: str = "https://example.com/", **kwargs: object) -> Request:
    """A request as Scrapy's built-in header middlewares leave it."""
    request = Request(url, **kwargs)  # type: ignore[arg-type]
    DefaultHeadersMiddleware(default_settings.DEFAULT_REQUEST_HEADERS.items()).process_request(request)
    UserAgentMiddleware(default_settings.USER_AGENT).process_request(request)
    request.headers.setdefault(b"Accept-Encoding", b", ".join(ACCEPTED_ENCODINGS))
    return request


def middleware(**settings: object) -> TLSClientMiddleware:
    return TLSClientMiddleware(HandlerConfig.from_settings(Settings(settings)), PROFILES)


def wire(request: Request) -> list[tuple[str, str]]:
    return [(k.decode().lower(), v.decode()) for k, vs in request.headers.items() for v in vs]


def test_scrapy_defaults_become_the_browser_headers_in_its_order() -> None:
    request = scrapy_request(headers={"X-Custom": "1"})
    middleware().process_request(request)
    chrome = browser_for(DEFAULT_PROFILE)
    assert chrome is not None
    sent = wire(request)
    expected = [
        (name, value)
        for name, value in chrome.headers
        if name != "accept-encoding" or all(e in ACCEPTED_ENCODINGS for e in value.encode().split(b", "))
    ]
    assert [pair for pair in sent if pair[0] != "accept-encoding" and pair[0] != "x-custom"] == [
        pair for pair in expected if pair[0] != "accept-encoding"
    ]
    assert sent[-1] == ("x-custom", "1")  # headers the browser has no place for come last
    encoding = dict(sent)["accept-encoding"]
    assert set(encoding.split(", ")) <= {
        e.decode() for e in ACCEPTED_ENCODINGS
    }  # never what Scrapy cannot decode


def test_user_values_are_never_overridden() -> None:
    request = scrapy_request(headers={"Accept-Language": "de-DE"})
    middleware().process_request(request)
    assert request.headers[b"Accept-Language"] == b"de-DE"
    assert b"Chrome/156" in request.headers[b"User-Agent"]


def test_a_user_agent_of_the_users_own_leaves_the_headers_alone_but_ordered() -> None:
    request = scrapy_request(headers={"User-Agent": "MyBot/1.0", "Cookie": "a=1"})
    middleware(TLS_CLIENT_PROFILE="firefox_147").process_request(request)
    assert request.headers[b"User-Agent"] == b"MyBot/1.0"
    assert b"Sec-Fetch-Mode" not in request.headers
    names = [name for name, _ in wire(request)]
    assert names == ["user-agent", "accept", "accept-language", "accept-encoding", "cookie"]


def test_the_referer_decides_sec_fetch_site() -> None:
    request = scrapy_request(headers={"Referer": "https://example.com/list"})
    middleware().process_request(request)
    assert request.headers[b"Sec-Fetch-Site"] == b"same-origin"


def test_switches_and_profiles_without_a_browser() -> None:
    off = scrapy_request()
    middleware(TLS_CLIENT_BROWSER_HEADERS=False).process_request(off)
    assert off.headers[b"User-Agent"] == default_settings.USER_AGENT.encode()
    per_request = scrapy_request(meta={"tls_client_browser_headers": False})
    middleware().process_request(per_request)
    assert b"Sec-Ch-Ua" not in per_request.headers
    app = scrapy_request(meta={"tls_client_profile": "okhttp4_android_13"})
    middleware().process_request(app)
    assert b"Sec-Ch-Ua" not in app.headers
    custom = scrapy_request(meta={"tls_client_custom_tls": {"ja3String": "771,4865,0,29,0"}})
    middleware().process_request(custom)
    assert b"Sec-Ch-Ua" not in custom.headers


def test_meta_profile_picks_the_browser() -> None:
    request = scrapy_request(meta={"tls_client_profile": "safari_ios_18_5"})
    middleware().process_request(request)
    assert b"iPhone" in request.headers[b"User-Agent"]
    assert wire(request)[0] == ("sec-fetch-dest", "document")


def test_order_headers_is_stable_for_unlisted_names() -> None:
    request = Request("https://e.test/", headers={"B": "1", "Accept": "x", "A": "2", "User-Agent": "u"})
    order_headers(request.headers, ["user-agent", "accept"])
    assert [k for k in request.headers] == [b"User-Agent", b"Accept", b"B", b"A"]


def test_known_bad_profiles_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    mw = middleware()
    for _ in range(3):
        mw.process_request(scrapy_request(meta={"tls_client_profile": "firefox_147"}))
    assert caplog.text.count("'firefox_147' does not look like its browser") == 1
    assert "0x0203" in caplog.text


FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:153.0) Gecko/20100101 Firefox/153.0"


@pytest.mark.parametrize(
    ("profile", "headers", "problem"),
    [
        ("chrome_156_windows", {"User-Agent": FIREFOX_UA}, "User-Agent header claims firefox"),
        (
            "chrome_156_windows",
            {
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/150.0.0.0"
            },
            "claims Chrome 150, the identity is Chrome 156",
        ),
        (
            "firefox_153esr_linux",
            {"User-Agent": FIREFOX_UA, "Sec-Ch-Ua": '"Chromium";v="156"'},
            "sec-ch-ua header",
        ),
        ("safari_26_ios", {"Sec-Ch-Ua-Mobile": "?1", "Sec-Ch-Ua": "x"}, "sec-ch-ua header"),
    ],
)
def test_headers_that_contradict_the_identity_are_named(
    profile: str, headers: dict[str, str], problem: str
) -> None:
    from scrapy_tlsclient._browsers import incoherences

    browser = browser_for(profile)
    assert browser is not None
    found = incoherences(browser, Request("https://e.com/", headers=headers).headers)
    assert len(found) == 1 and problem in found[0]


def test_coherent_headers_raise_nothing() -> None:
    from scrapy_tlsclient._browsers import incoherences

    for profile in ("chrome_156_windows", "edge_156_windows", "firefox_153esr_windows", "safari_26_ios"):
        browser = browser_for(profile)
        assert browser is not None
        assert incoherences(browser, Request("https://e.com/", headers=dict(browser.headers)).headers) == []


def test_contradictions_and_app_profiles_with_scrapys_user_agent_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mw = TLSClientMiddleware(
        HandlerConfig.from_settings(Settings({})), frozenset({DEFAULT_PROFILE, "okhttp4_android_13"})
    )
    with caplog.at_level("WARNING", logger="scrapy_tlsclient"):
        for _ in range(3):
            mw.process_request(Request("https://e.com/", headers={"User-Agent": FIREFOX_UA}))
            mw.process_request(scrapy_request(meta={"tls_client_profile": "okhttp4_android_13"}))
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2, warnings
    assert "User-Agent header claims firefox" in warnings[0] and DEFAULT_PROFILE in warnings[0]
    assert "imitates an app" in warnings[1] and "okhttp4_android_13" in warnings[1]


def test_one_middleware_dresses_each_request_as_a_fresh_one_would() -> None:
    """What the middleware remembers of earlier requests never leaks into a
    request whose headers differ: each comes out as from a new middleware."""
    variants: list[tuple[dict[str, str], dict[str, object]]] = [
        ({}, {}),
        ({"Accept-Language": "de-DE"}, {}),
        ({}, {}),
        ({"Referer": "https://example.com/list"}, {}),
        ({"Referer": "https://other.test/"}, {}),
        ({"Accept": "application/json"}, {}),
        ({}, {"body_file": "/tmp/x.bin"}),
        ({"Cookie": "a=1"}, {}),
        ({}, {"tls_client_profile": "firefox_147"}),
        ({}, {}),
    ]
    shared = middleware()
    dressed = []
    for headers, meta in variants:
        request, fresh = (
            scrapy_request(headers=headers, meta=meta),
            scrapy_request(headers=headers, meta=meta),
        )
        shared.process_request(request)
        middleware().process_request(fresh)
        assert list(request.headers.items()) == list(fresh.headers.items()), (headers, meta)
        dressed.append(request)
    # Each request owns its values: changing one changes no other.
    dressed[0].headers.appendlist(b"Sec-Fetch-Mode", b"changed")
    assert dressed[2].headers.getlist(b"Sec-Fetch-Mode") == [b"navigate"]


def test_a_wss_request_is_dressed_as_the_browsers_handshake() -> None:
    request = scrapy_request("wss://feed.example.com/ws")
    request.headers[b"Cookie"] = b"a=1"  # as Scrapy's cookie middleware leaves it
    middleware().process_request(request)
    chrome = browser_for(DEFAULT_PROFILE)
    assert chrome is not None
    # Chrome's handshake, in its order: no Accept (Scrapy's default is
    # dropped), its own Accept-Encoding (the 101 has no body to decode),
    # the socket's own origin when the request names none.
    assert wire(request) == [
        ("connection", "Upgrade"),
        ("pragma", "no-cache"),
        ("cache-control", "no-cache"),
        ("user-agent", chrome.user_agent),
        ("upgrade", "websocket"),
        ("origin", "https://feed.example.com"),
        ("sec-websocket-version", "13"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
        ("cookie", "a=1"),
        ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
    ]


def test_firefox_handshakes_say_where_they_come_from() -> None:
    request = scrapy_request(
        "ws://feed.example.com:8080/ws", headers={"Referer": "https://www.example.com/live"}
    )
    middleware(TLS_CLIENT_PROFILE="firefox_153esr_linux").process_request(request)
    sent = dict(wire(request))
    assert sent["accept"] == "*/*"
    assert sent["origin"] == "https://www.example.com"  # the Referer's origin
    assert (sent["sec-fetch-mode"], sent["sec-fetch-dest"]) == ("websocket", "empty")
    assert sent["sec-fetch-site"] == "cross-site"
    assert sent["sec-websocket-extensions"] == "permessage-deflate"
    # A spider's own Origin is kept and decides Sec-Fetch-Site.
    request = scrapy_request("wss://feed.example.com/ws", headers={"Origin": "https://feed.example.com"})
    middleware(TLS_CLIENT_PROFILE="firefox_153esr_linux").process_request(request)
    assert dict(wire(request))["sec-fetch-site"] == "same-origin"


def test_the_request_kind_of_websockets() -> None:
    assert request_kind(Request("wss://a.test/ws")) == "websocket"
    assert request_kind(Request("WS://a.test/ws")) == "websocket"
    assert request_kind(Request("wss://a.test/ws", meta={"tls_client_request_kind": "fetch"})) == "fetch"
    with pytest.raises(ValueError, match="only ws:// and wss:// requests can be"):
        request_kind(Request("https://a.test/", meta={"tls_client_request_kind": "websocket"}))


def test_websocket_origin() -> None:
    assert websocket_origin("wss://a.test/ws", None) == "https://a.test"
    assert websocket_origin("ws://a.test:8080/ws", None) == "http://a.test:8080"
    assert websocket_origin("wss://a.test:443/ws", None) == "https://a.test"
    assert websocket_origin("wss://a.test/ws", "https://b.test:8443/page?q") == "https://b.test:8443"


def test_scrapys_defaults_the_browser_leaves_out_of_a_kind_are_dropped() -> None:
    # Chrome's downloads carry no Accept: Scrapy's default one goes, a
    # spider's own stays.
    chrome = browser_for(DEFAULT_PROFILE)
    assert chrome is not None
    assert "accept" not in dict(chrome.headers_for("download"))
    dressed = scrapy_request(meta={"body_file": "/tmp/x.bin"})
    middleware().process_request(dressed)
    assert b"Accept" not in dressed.headers
    assert b"Sec-Fetch-Dest" in dressed.headers  # dressed as the download it is
    own = scrapy_request(headers={"Accept": "application/pdf"}, meta={"body_file": "/tmp/x.bin"})
    middleware().process_request(own)
    assert own.headers[b"Accept"] == b"application/pdf"
    # A kind that sends Accept keeps the browser's.
    page = scrapy_request()
    middleware().process_request(page)
    assert page.headers[b"Accept"] == dict(chrome.headers_for("navigation"))["accept"].encode()
