"""Bad input and security, against the real handler, the loopback servers
and proxies (and, beside it where that says something, Scrapy's own
HTTP11DownloadHandler with the same request).

Already covered elsewhere, so not repeated here: every tls_client_* meta
key and setting with bad values (tests/bad_input_cases.py through
test_refused_input.py and tests/unit/test_bad_input.py); header values with
CR/LF/NUL in the pure mapping (tests/unit/test_request_input.py,
test_mapping_properties.py); Proxy-Authorization reaching the proxy and
never the target (test_proxies.py); an untrusted HTTPS proxy with
verification off, and a trusted one (test_crawls.py::test_https_proxy);
SSLKEYLOGFILE (tests/integration/test_binding.py); DOWNLOAD_MAXSIZE on the
decoded size of a compressed body (test_crawls.py, test_body_file.py).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import time
import traceback
import urllib.request
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import (
    DownloadConnectionRefusedError,
    DownloadFailedError,
    NotConfigured,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient._config import HandlerConfig
from scrapy_tlsclient._event_loop import sleep
from scrapy_tlsclient._request_input import request_input_from
from scrapy_tlsclient.binding import NativeTLSError, get_library

from conftest import Servers, run_python
from handler_utils import open_handler, open_http11

GOOD = "user:pass"  # what the test proxies accept
CANARY = "Canary-Pw-7f3a91"  # a wrong password, unlike anything else in a log
WRONG = f"user:{CANARY}"


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


#: Every form in which a proxy password could leak.
SECRETS = (GOOD, basic(GOOD).split()[1], CANARY, basic(WRONG).split()[1])


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def with_credentials(proxy_url: str, credentials: str) -> str:
    scheme, rest = proxy_url.split("://", 1)
    return f"{scheme}://{credentials}@{rest}"


def accepted(base: str) -> int:
    """Connections the (HTTP/1.1) test server at ``base`` has accepted,
    this one included."""
    context = ssl._create_unverified_context()  # the test CA is not trusted here
    with urllib.request.urlopen(f"{base}/conns", timeout=10, context=context) as answer:
        count: int = json.load(answer)["accepted"]
    return count


def calls_started() -> int:
    return get_library().stats()["callsStarted"]


async def settled(field: str, baseline: int, limit_s: float = 2.0) -> int:
    """The library counter ``field`` once it is back at ``baseline``, or
    whatever it is after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while (value := get_library().stats()[field]) != baseline and time.monotonic() < deadline:
        await sleep(0.02)
    return value


def echo_of(response: Response) -> dict[str, Any]:
    assert response.status == 200, response.body[:300]
    echo: dict[str, Any] = json.loads(response.body)
    return echo


def received(echo: dict[str, Any]) -> list[tuple[str, str]]:
    """The header fields the server received, bar the ones the transport adds."""
    return [(n, v) for n, v in echo["headers"] if n.lower() not in ("host", "content-length")]


async def outcome(handler: Any, request: Request) -> Response | Exception:
    try:
        response: Response = await handler.download_request(request)
    except Exception as exc:  # the outcome is what is compared
        return exc
    return response


# -- bad input: Scrapy's meta keys and settings --------------------------------


def nothing_sent_probe(servers: Servers) -> tuple[int, int]:
    return accepted(servers.http), calls_started()


def assert_nothing_sent(servers: Servers, before: tuple[int, int]) -> None:
    # The probe's own connection is the only new one, and no native call
    # was started: the request never left Python.
    assert (accepted(servers.http), calls_started()) == (before[0] + 1, before[1])


#: (meta, what the error must say). Every tls_client_* key is in
#: bad_input_cases.py; these are the Scrapy keys the handler reads.
SCRAPY_META_CASES = [
    pytest.param({"bindaddress": ("127.0.0.1", "80")}, "'bindaddress' request meta key", id="bind-str-port"),
    pytest.param({"bindaddress": 5}, "'bindaddress' request meta key", id="bind-int"),
    pytest.param({"download_timeout": float("nan")}, "'download_timeout' request meta key", id="timeout-nan"),
    pytest.param({"download_timeout": True}, "'download_timeout' request meta key", id="timeout-bool"),
    pytest.param({"proxy": ["http://127.0.0.1:1"]}, "'proxy' request meta key", id="proxy-list"),
    pytest.param(
        {"download_maxsize": "big"},
        "'download_maxsize' request meta key",
        id="maxsize-str",
        # Sent, then TypeError: '>' not supported between 'int' and 'str'.
    ),
    pytest.param(
        {"download_maxsize": -1},
        "'download_maxsize' request meta key",
        id="maxsize-negative",
        # Sent, then DownloadCancelledError "larger than download max size (-1)".
    ),
    pytest.param(
        {"download_warnsize": "x"},
        "'download_warnsize' request meta key",
        id="warnsize-str",
    ),
    pytest.param(
        {"download_fail_on_dataloss": "no"},
        "'download_fail_on_dataloss' request meta key",
        id="dataloss-str",
    ),
    pytest.param(
        {"body_file": 5},
        "'body_file' request meta key",
        id="body-file-int",
    ),
    pytest.param(
        {"body_file": ""},
        "'body_file' request meta key",
        id="body-file-empty",
    ),
    pytest.param(
        {"body_file": "/nonexistent-dir-of-test-security/x"},
        "'body_file' request meta key",
        id="body-file-no-dir",
    ),
    pytest.param(
        {"bindaddress": ("127.0.0.1", 70000)},
        "'bindaddress' request meta key",
        id="bind-port-range",
    ),
    pytest.param(
        {"proxy": "http://"},
        "'proxy' request meta key",
        id="proxy-no-host",
    ),
]


@pytest.mark.parametrize(("meta", "message"), SCRAPY_META_CASES)
@deferred_f_from_coro_f
async def test_bad_scrapy_meta_values_are_refused_by_name_before_sending(
    servers: Servers, meta: dict[str, object], message: str
) -> None:
    before = nothing_sent_probe(servers)
    async with open_handler() as handler:
        # A session of its own: anything sent would need a new connection.
        request = Request(f"{servers.http}/bytes?n=10", meta={**meta, "tls_client_session": repr(meta)})
        with pytest.raises(ValueError, match=message):
            await handler.download_request(request)
    assert_nothing_sent(servers, before)


#: Scrapy settings the handler reads (the TLS_CLIENT_* ones are in
#: bad_input_cases.py).
SCRAPY_SETTING_CASES = [
    pytest.param("DOWNLOAD_MAXSIZE", -1, id="maxsize-negative"),
    pytest.param("DOWNLOAD_MAXSIZE", "big", id="maxsize-str"),
    pytest.param("DOWNLOAD_WARNSIZE", -5, id="warnsize-negative"),
    pytest.param("CONCURRENT_REQUESTS", 0, id="concurrency-0"),
    pytest.param("REACTOR_THREADPOOL_MAXSIZE", 0, id="threadpool-0"),
    pytest.param("DOWNLOAD_BIND_ADDRESS", 5, id="bind-int"),
    pytest.param("DOWNLOAD_BIND_ADDRESS", ("127.0.0.1", "x"), id="bind-str-port"),
    pytest.param(
        "DOWNLOAD_TIMEOUT",
        -1,
        id="timeout-negative",
    ),
    pytest.param(
        "DOWNLOAD_TIMEOUT",
        float("nan"),
        id="timeout-nan",
    ),
    pytest.param(
        "DOWNLOAD_TIMEOUT",
        float("inf"),
        id="timeout-inf",
    ),
    pytest.param(
        "HTTPPROXY_AUTH_ENCODING",
        "no-such-codec",
        id="proxy-auth-encoding",
    ),
]


@pytest.mark.parametrize(("name", "value"), SCRAPY_SETTING_CASES)
@deferred_f_from_coro_f
async def test_bad_scrapy_settings_stop_the_handler_by_name(name: str, value: object) -> None:
    with pytest.raises(NotConfigured, match=name):
        async with open_handler(**{name: value}):
            pass


# -- header injection ----------------------------------------------------------

INJECTIONS = [
    pytest.param({"X-A": "a\r\nX-Injected: 1"}, id="crlf-value"),
    pytest.param({"X-A": "a\nX-Injected: 1"}, id="lf-value"),
    pytest.param({"X-A": "a\rX-Injected: 1"}, id="cr-value"),
    pytest.param({"X-A": "a\x00X-Injected: 1"}, id="nul-value"),
    pytest.param({"X-A": ["ok", "b\r\n\r\nGET /echo?smuggled HTTP/1.1"]}, id="crlf-second-value"),
    pytest.param({"X-A\r\nX-Injected": "1"}, id="crlf-name"),
    pytest.param({"X-Café": "1"}, id="non-ascii-name"),
    pytest.param({"X A": "1"}, id="space-name"),
    pytest.param({"X-A:": "1"}, id="colon-name"),
    pytest.param({"Host": "evil.example\r\nX-Injected: 1"}, id="crlf-host"),
    pytest.param({"User-Agent": b"ua\r\nX-Injected: 1"}, id="crlf-bytes-value"),
]


@pytest.mark.parametrize("headers", INJECTIONS)
@deferred_f_from_coro_f
async def test_header_injection_is_refused_by_name_before_sending(
    servers: Servers, headers: dict[str, Any]
) -> None:
    name = next(iter(headers))
    async with open_handler() as handler:
        for base in (servers.http, servers.https, servers.h2):
            before = nothing_sent_probe(servers)
            request = Request(f"{base}/echo", headers=headers, meta={"tls_client_session": f"inj-{base}"})
            with pytest.raises(ValueError, match="is not a valid header") as info:
                await handler.download_request(request)
            assert repr(name.encode())[2:-1] in str(info.value)  # names the header
            assert_nothing_sent(servers, before)
        assert len(handler._sessions) == 0


OTHER_CONTROLS = [pytest.param(c, id=f"0x{ord(c):02x}") for c in ("\x01", "\x1b", "\x7f")]


@pytest.mark.parametrize("control", OTHER_CONTROLS)
@deferred_f_from_coro_f
async def test_other_control_characters_in_a_value_never_reach_the_server(
    servers: Servers, control: str
) -> None:
    async with open_handler() as handler:
        for base in (servers.http, servers.https, servers.h2):
            before = accepted(servers.http), accepted(servers.https)
            request = Request(
                f"{base}/echo", headers={"X-A": f"a{control}b"}, meta={"tls_client_session": f"ctl-{base}"}
            )
            with pytest.raises((ValueError, DownloadFailedError), match="X-A"):
                await handler.download_request(request)
            # No connection to the plain server, so no request either. Over
            # TLS tls-client may dial first (to choose HTTP/1.1 or HTTP/2),
            # then refuses the header: one connection at most.
            assert accepted(servers.http) == before[0] + 1
            assert accepted(servers.https) <= before[1] + 2


@pytest.mark.parametrize("control", OTHER_CONTROLS)
@deferred_f_from_coro_f
async def test_other_control_characters_in_a_value_are_bad_input(servers: Servers, control: str) -> None:
    async with open_handler() as handler:
        with pytest.raises(ValueError, match="is not a valid header"):
            await handler.download_request(Request(f"{servers.http}/echo", headers={"X-A": f"a{control}b"}))


@deferred_f_from_coro_f
async def test_non_ascii_and_tab_values_arrive_as_one_header(servers: Servers) -> None:
    cases: list[tuple[str | bytes, str]] = [
        ("café ☃", "café ☃"),  # UTF-8, byte for byte
        ("a\tb", "a\tb"),
        ("X-Injected: 1", "X-Injected: 1"),  # a colon in a value is only text
        # Not UTF-8: sent as is, as HTTP11 sends it (the JSON echo shows the
        # lone byte 0xE9 as U+FFFD).
        (b"caf\xe9", "caf\ufffd"),
    ]
    async with open_handler() as handler, open_http11() as http11:
        for value, arrives in cases:
            for base in (servers.http, servers.https, servers.h2):
                echo = echo_of(
                    await handler.download_request(Request(f"{base}/echo", headers={"X-A": value}))
                )
                fields = [(n.lower(), v) for n, v in received(echo) if n.lower() != "user-agent"]
                assert fields == [("x-a", arrives)], (base, value)
            # Scrapy's handler sends the same.
            echo = echo_of(
                await http11.download_request(Request(f"{servers.http}/echo", headers={"X-A": value}))
            )
            assert received(echo) == [("X-A", arrives)]


@deferred_f_from_coro_f
async def test_no_header_is_added_that_the_request_does_not_have(servers: Servers) -> None:
    """Not even upstream fhttp's User-Agent: Go-http-client/1.1 or /2.0 (the patched copy,
    native/third_party/fhttp/PATCHES.md, adds none), on a new and a reused connection, direct
    and through a proxy."""
    async with open_handler() as handler:
        for base in (servers.http, servers.https, servers.h2):
            for proxy in (None, servers.proxy):
                for _ in range(2):
                    request = Request(f"{base}/echo", headers={"X-A": "1"}, meta={"proxy": proxy})
                    echo = echo_of(await handler.download_request(request))
                    assert [(n.lower(), v) for n, v in received(echo)] == [("x-a", "1")], (base, proxy)
            # A User-Agent the request has still goes out, once.
            request = Request(f"{base}/echo", headers={"User-Agent": "UA/1"})
            echo = echo_of(await handler.download_request(request))
            assert [(n.lower(), v) for n, v in received(echo)] == [("user-agent", "UA/1")], base


@deferred_f_from_coro_f
async def test_bad_methods_are_refused_like_scrapys_handler(servers: Servers) -> None:
    methods = ["GET /x HTTP/1.1\r\nX-Injected: 1\r\nX-B:", "GET /x", "GÉT", "GET\x00"]
    async with open_handler() as handler, open_http11() as http11:
        for method in methods:
            before = accepted(servers.http)
            for base in (servers.http, servers.h2):
                request = Request(f"{base}/echo", method=method, meta={"tls_client_session": f"m-{base}"})
                with pytest.raises(ValueError, match="invalid method"):
                    await handler.download_request(request)
            with pytest.raises(ValueError, match="Invalid method"):
                await http11.download_request(Request(f"{servers.http}/echo", method=method))
            assert accepted(servers.http) == before + 1


# -- URLs ----------------------------------------------------------------------


@deferred_f_from_coro_f
async def test_other_schemes_are_refused_before_any_native_call() -> None:
    urls = [
        "file:///etc/passwd",
        "data:text/plain,hello",
        "s3://bucket/key",
        "ftp://127.0.0.1:1/x",
        "gopher://127.0.0.1:1/",
    ]  # ws:// and wss:// open WebSockets (test_websocket.py)
    before = calls_started()
    async with open_handler() as handler:
        for url in urls:
            with pytest.raises(UnsupportedURLSchemeError, match="Unsupported URL scheme"):
                await handler.download_request(Request(url))
        assert len(handler._sessions) == 0
    assert calls_started() == before


@deferred_f_from_coro_f
async def test_invalid_urls_fail_with_value_error_like_scrapys_handler(servers: Servers) -> None:
    # Scrapy's Request refuses some URLs itself (no scheme, bad port) and
    # cleans others (CR, LF, tab and NUL are removed, spaces escaped).
    for url in ("127.0.0.1/echo", "http://127.0.0.1:99999/", "http://127.0.0.1:abc/", "http://[::1/"):
        with pytest.raises(ValueError, match=r"scheme|[Pp]ort|IPv6"):
            Request(url)
    port = servers.http.rsplit(":", 1)[1]
    assert Request(f"http://127.0.0.1:{port}/echo?a=1\r\nX-Injected: 1").url.endswith("?a=1X-Injected:%201")
    async with open_handler() as handler, open_http11() as http11:
        for url in ("http:///echo", "http://127.0.0.1 /echo", f"http://:{port}@/echo"):
            before = accepted(servers.http)
            with pytest.raises(ValueError, match=r"^Invalid URL '"):
                await handler.download_request(Request(url))
            with pytest.raises(ValueError, match=r"(?i)invalid (hostname|URI)"):
                await http11.download_request(Request(url))
            assert accepted(servers.http) == before + 1
        # What Scrapy's cleaning leaves arrives as the same path and no header.
        for each in (handler, http11):
            echo = echo_of(await each.download_request(Request(f"{servers.http}/echo?a=1\r\nX-Injected: 1")))
            assert echo["path"] == "/echo?a=1X-Injected:%201"
            assert received(echo) == []


@deferred_f_from_coro_f
async def test_a_url_without_a_host_goes_nowhere(servers: Servers) -> None:
    port = servers.http.rsplit(":", 1)[1]
    tls_port = servers.https.rsplit(":", 1)[1]
    async with open_handler() as handler, open_http11() as http11:
        for url in (f"http://:{port}/echo", f"https://:{tls_port}/echo", f"http://@:{port}/echo"):
            before = accepted(servers.http), accepted(servers.https)
            theirs = await outcome(http11, Request(url))
            assert isinstance(theirs, ValueError) and "invalid hostname" in str(theirs)
            ours = await outcome(handler, Request(url, meta={"tls_client_session": url}))
            assert (accepted(servers.http), accepted(servers.https)) == (before[0] + 1, before[1] + 1)
            assert isinstance(ours, ValueError), repr(ours)[:300]


@deferred_f_from_coro_f
async def test_enormous_urls(servers: Servers) -> None:
    streams, in_flight = get_library().stats()["streamsOpen"], get_library().stats()["callsInFlight"]
    async with open_handler() as handler, open_http11() as http11:
        # 100 KB of path or query arrives exactly, as with Scrapy's handler.
        for tail in ("/" + "p" * 100_000, "?q=" + "q" * 100_000):
            for base in (servers.http, servers.https, servers.h2):
                echo = echo_of(await handler.download_request(Request(f"{base}/echo{tail}")))
                assert echo["path"] == f"/echo{tail}"
            for base in (servers.http, servers.https):
                assert (
                    echo_of(await http11.download_request(Request(f"{base}/echo{tail}")))["path"]
                    == f"/echo{tail}"
                )
        # 2 MB: past the server's 1 MB header limit. Scrapy's handler gets
        # the server's 431; this handler gets the 431 or, when the server
        # resets the connection while the request is still being written, a
        # failed download (before the 431's head was read; always over
        # HTTP/2, whose server ends the connection) or data loss (after it:
        # the 431's close-delimited body ended by a reset). Promptly.
        for tail in ("/" + "p" * 2_000_000, "?q=" + "q" * 2_000_000):
            for base in (servers.http, servers.https, servers.h2):
                started = time.monotonic()
                result = await outcome(handler, Request(f"{base}/echo{tail}", meta={"download_timeout": 20}))
                assert time.monotonic() - started < 10
                if isinstance(result, Response):
                    assert base != servers.h2
                    assert result.status == 431
                else:
                    assert isinstance(result, (DownloadFailedError, ResponseDataLossError)), repr(result)[
                        :300
                    ]
            for base in (servers.http, servers.https):
                result = await outcome(http11, Request(f"{base}/echo{tail}"))
                assert isinstance(result, Response) and result.status == 431
        # Nothing is left open, and the handler goes on working.
        assert await settled("streamsOpen", streams) == streams
        assert await settled("callsInFlight", in_flight) == in_flight
        for base in (servers.http, servers.https, servers.h2):
            assert echo_of(await handler.download_request(Request(f"{base}/echo")))["path"] == "/echo"


# -- request bodies ------------------------------------------------------------


BODIES: list[tuple[str, dict[str, Any], bytes]] = [
    ("str, utf-8", {"body": "héllo ☃"}, "héllo ☃".encode()),
    ("str, latin-1", {"body": "héllo", "encoding": "latin-1"}, b"h\xe9llo"),
    ("str, cp1251", {"body": "привет", "encoding": "cp1251"}, "привет".encode("cp1251")),
    ("bytes, not utf-8", {"body": b"\xff\xfe\x00\x80\r\n\r\nraw"}, b"\xff\xfe\x00\x80\r\n\r\nraw"),
    ("empty str", {"body": ""}, b""),
    ("str, 60 KiB", {"body": "é" * 30_000}, "é".encode() * 30_000),
]


@deferred_f_from_coro_f
async def test_str_and_bytes_bodies_arrive_byte_exact_like_scrapys_handler(servers: Servers) -> None:
    async with open_handler() as handler, open_http11() as http11:
        for label, kwargs, expected in BODIES:
            assert Request("http://127.0.0.1/", **kwargs).body == expected, label
            for base in (servers.http, servers.https, servers.h2):
                request = Request(f"{base}/echo", method="POST", **kwargs)
                echo = echo_of(await handler.download_request(request))
                assert base64.b64decode(echo["body_b64"]) == expected, (label, base)
                assert echo["body_len"] == len(expected)
                if base == servers.h2:
                    continue
                # The same fields as Scrapy's handler sends (Content-Length included).
                theirs = echo_of(
                    await http11.download_request(Request(f"{base}/echo", method="POST", **kwargs))
                )
                assert base64.b64decode(theirs["body_b64"]) == expected
                ours = sorted((n.lower(), v) for n, v in echo["headers"] if n.lower() != "host")
                assert ours == sorted((n.lower(), v) for n, v in theirs["headers"] if n.lower() != "host"), (
                    label
                )


# -- proxy credentials -----------------------------------------------------------


def proxy_log(servers: Servers) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{servers.http}/proxy-log", timeout=10) as answer:
        entries: list[dict[str, Any]] = json.load(answer)["entries"]
    return entries


def clear_proxy_log(servers: Servers) -> None:
    request = urllib.request.Request(f"{servers.http}/proxy-log", method="DELETE")
    urllib.request.urlopen(request, timeout=10).close()


def everything_about(result: Response | Exception) -> str:
    """All the text a spider or a log could see of a download's result."""
    if isinstance(result, Response):
        return f"{result!r} {result.headers.to_unicode_dict()!r} {result.body!r}"
    text = "".join(traceback.format_exception(result))
    cause = result.__cause__
    return text + "\n".join(getattr(cause, "debug_log", []) or [])


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(lines)


@deferred_f_from_coro_f
async def test_proxy_credentials_never_reach_a_log_line_an_error_or_the_target(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger
    refused = "http://127.0.0.1:1"
    socks_refused = "socks5://127.0.0.1:1"
    # (target, proxy, Proxy-Authorization, expected outcome)
    cases: list[tuple[str, str, str | None, type | None]] = [
        (servers.https, servers.proxy_auth, basic(GOOD), None),
        (servers.http, with_credentials(servers.proxy_auth, GOOD), None, None),
        (servers.h2, servers.socks5, basic(GOOD), None),
        (servers.https, with_credentials(servers.socks5, GOOD), None, None),
        (servers.https, servers.proxy_auth, basic(WRONG), DownloadFailedError),  # 407
        (servers.h2, with_credentials(servers.proxy_auth, WRONG), None, DownloadFailedError),
        (servers.h2, servers.socks5, basic(WRONG), DownloadFailedError),  # auth failed
        (servers.http, with_credentials(servers.socks5, WRONG), None, DownloadFailedError),
        (servers.https, refused, basic(WRONG), DownloadConnectionRefusedError),
        (servers.https, with_credentials(refused, WRONG), None, DownloadConnectionRefusedError),
        (servers.https, socks_refused, basic(WRONG), DownloadConnectionRefusedError),
        (servers.https, with_credentials(socks_refused, WRONG), None, DownloadConnectionRefusedError),
        # The self-signed TLS proxy (no verification: Scrapy's default) takes
        # any credentials; its untrusted certificate with verification on
        # is below, in the certificate tests.
        (servers.https, servers.proxy_tls, basic(WRONG), None),
        (servers.http, servers.proxy_tls, basic(WRONG), None),
    ]
    clear_proxy_log(servers)
    seen = []
    settings = {"TLS_CLIENT_DEBUG": True, "DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING": True, "LOG_LEVEL": "DEBUG"}
    async with open_handler(**settings) as handler:
        for target, proxy, auth, expected in cases:
            headers = {"Proxy-Authorization": auth} if auth else {}
            request = Request(f"{target}/echo", headers=headers, meta={"proxy": proxy})
            result = await outcome(handler, request)
            if expected is None:
                assert isinstance(result, Response), repr(result)[:500]
                names = [name.lower() for name, _ in echo_of(result)["headers"]]
                assert "proxy-authorization" not in names
                assert "authorization" not in names
            else:
                assert type(result) is expected, repr(result)[:500]
            seen.append(everything_about(result))
        stats = json.dumps(handler.crawler.stats.get_stats(), default=str)
    logs = log_text(caplog)
    # The logging that could have leaked was on.
    assert "tls-client debug for" in logs
    assert "SSL connection to 127.0.0.1" in logs
    for text in (*seen, logs, stats):
        assert leaked(text) == [], text[:2000]
    # And the credentials were really in play: the proxies got them.
    entries = proxy_log(servers)
    auth_seen = {e["proxy_authorization"] for e in entries if e["proxy"] == "proxy_auth"}
    assert auth_seen == {basic(GOOD), basic(WRONG)}
    assert {e["proxy_authorization"] for e in entries if e["proxy"] == "proxy_tls"} == {basic(WRONG)}
    assert {e["socks_user"] for e in entries if e["proxy"] == "socks5"} == {"user"}


MALFORMED_PROXIES = [
    pytest.param(
        "socks5://127.0.0.1 :1",
        basic(WRONG),
        id="socks-space-in-host-with-header",
    ),
    pytest.param(
        "socks5://127.0.0.1%zz:1",
        basic(WRONG),
        id="socks-bad-escape-with-header",
    ),
    pytest.param(
        f"http://{WRONG}@127.0.0.1:abc",
        None,
        id="http-bad-port-in-url",
    ),
    pytest.param(
        f"ftp://{WRONG}@127.0.0.1:21",
        None,
        id="unsupported-scheme-in-url",
    ),
    pytest.param("socks5://127.0.0.1:99999", basic(WRONG), id="socks-port-range-with-header"),
    pytest.param("socks5://127.0.0.1:abc", basic(WRONG), id="socks-port-str-with-header"),
]


@pytest.mark.parametrize(("proxy", "auth"), MALFORMED_PROXIES)
@deferred_f_from_coro_f
async def test_a_malformed_proxy_url_never_shows_its_credentials(
    servers: Servers, caplog: pytest.LogCaptureFixture, proxy: str, auth: str | None
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Proxy-Authorization": auth} if auth else {}
    async with open_handler(TLS_CLIENT_DEBUG=True) as handler:
        result = await outcome(
            handler, Request(f"{servers.https}/echo", headers=headers, meta={"proxy": proxy})
        )
    assert isinstance(result, (ValueError, DownloadFailedError)), repr(result)
    assert leaked(everything_about(result) + log_text(caplog)) == []


def test_socks_credentials_keep_an_ipv6_proxy_address_intact() -> None:
    # The mapping alone: nothing is dialled.
    config = HandlerConfig.from_settings(Settings())
    request = Request(
        "https://127.0.0.1/",
        meta={"proxy": "socks5://[::1]:1080"},
        headers={"Proxy-Authorization": basic(GOOD)},
    )
    call = request_input_from(request, config, stream_id="s", profiles={config.profile or "chrome_150"})
    assert call.request_input["proxyUrl"] == f"socks5://{GOOD}@[::1]:1080"


# -- whole crawls --------------------------------------------------------------

CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

spec = json.loads(sys.argv[1])
results, rss_before = [], []

def rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

class Spider(scrapy.Spider):
    name = "security"

    def next_request(self):
        # One at a time, in order: the memory figures are per request.
        if len(results) < len(spec["requests"]):
            rss_before.append(rss("VmRSS:"))
            item = spec["requests"][len(results)]
            return scrapy.Request(item["url"], meta=item.get("meta", {}), headers=item.get("headers"),
                                  callback=self.parse, errback=self.failed, dont_filter=True)

    async def start(self):
        yield self.next_request()

    def parse(self, response):
        results.append({"status": response.status, "length": len(response.body),
                        "body": response.text[:3000] if response.body[:1] == b"{" else ""})
        request = self.next_request()
        if request is not None:
            yield request

    def failed(self, failure):
        error = failure.value
        results.append({"error": type(error).__name__, "cause": type(error.__cause__).__name__,
                        "message": str(error)[:3000]})
        request = self.next_request()
        if request is not None:
            yield request

settings = {"DOWNLOAD_HANDLERS": {"http": "scrapy_tlsclient.TLSClientDownloadHandler",
                                  "https": "scrapy_tlsclient.TLSClientDownloadHandler"},
            "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
            "LOG_LEVEL": "ERROR", **spec["settings"]}
process = CrawlerProcess(settings)
process.crawl(Spider)
process.start()
print(json.dumps({"results": results, "rss_before": rss_before, "peak": rss("VmHWM:")}))
"""


def crawl(spec: dict[str, Any], env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """Run the spec's requests in order in a crawl of its own; its output
    and its whole log."""
    result = run_python(CRAWL, json.dumps(spec), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(output["results"]) == len(spec["requests"]), result.stderr[-3000:]
    return output, result.stderr


def test_proxy_credentials_never_reach_a_crawls_log(servers: Servers) -> None:
    # Credentials in the proxy URL, as users give them: HttpProxyMiddleware
    # moves them to Proxy-Authorization. The TLS proxy is trusted here.
    env = dict(os.environ, SSL_CERT_FILE=servers.cert)
    proxies = [
        (servers.https, with_credentials(servers.proxy_auth, GOOD)),
        (servers.h2, with_credentials(servers.socks5, GOOD)),
        (servers.https, with_credentials(servers.proxy_tls, GOOD)),
        (servers.https, with_credentials(servers.proxy_auth, WRONG)),
        (servers.h2, with_credentials(servers.socks5, WRONG)),
        (servers.https, with_credentials("http://127.0.0.1:1", WRONG)),
        (servers.https, with_credentials("socks5://127.0.0.1:1", WRONG)),
    ]
    spec = {
        "settings": {
            "LOG_LEVEL": "DEBUG",
            "TLS_CLIENT_DEBUG": True,
            "DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING": True,
            "RETRY_TIMES": 1,
        },
        "requests": [
            {"url": f"{target}/echo?i={i}", "meta": {"proxy": proxy}}
            for i, (target, proxy) in enumerate(proxies)
        ],
    }
    clear_proxy_log(servers)
    output, log = crawl(spec, env=env)
    results = output["results"]
    assert [r.get("status") for r in results[:3]] == [200, 200, 200], results
    assert [r.get("error") for r in results[3:]] == [
        "DownloadFailedError",
        "DownloadFailedError",
        "DownloadConnectionRefusedError",
        "DownloadConnectionRefusedError",
    ]
    for echo in (json.loads(r["body"]) for r in results[:3]):
        assert "proxy-authorization" not in [name.lower() for name, _ in echo["headers"]]
    # The log is as talkative as it gets, failures and retries included.
    assert "tls-client debug for" in log
    assert "SSL connection to" in log
    assert "Gave up retrying" in log
    assert leaked(log) == [], [line for line in log.splitlines() if leaked(line)][:5]
    assert leaked(json.dumps(results)) == []
    sent = {e["proxy_authorization"] for e in proxy_log(servers) if e["proxy"] in ("proxy_auth", "proxy_tls")}
    assert sent == {basic(GOOD), basic(WRONG)}


# -- certificate verification ---------------------------------------------------


@deferred_f_from_coro_f
async def test_verification_refuses_a_self_signed_target_directly_and_through_every_proxy(
    servers: Servers,
) -> None:
    routes: list[dict[str, Any]] = [{}, {"proxy": servers.proxy}, {"proxy": servers.socks5}]
    async with open_handler(DOWNLOAD_VERIFY_CERTIFICATES=True) as handler:
        for base in (servers.https, servers.h2):
            for meta in routes:
                result = await outcome(handler, Request(f"{base}/echo", meta=meta))
                assert isinstance(result, DownloadFailedError), (base, meta, result)
                assert isinstance(result.__cause__, NativeTLSError), (base, meta, repr(result.__cause__))
                assert "certificate" in str(result)
        # An HTTPS proxy with an untrusted certificate: refused too.
        result = await outcome(handler, Request(f"{servers.http}/echo", meta={"proxy": servers.proxy_tls}))
        assert isinstance(result, DownloadFailedError) and isinstance(result.__cause__, NativeTLSError)
    # The same requests without verification get through (the test CA is
    # all that is wrong with them).
    async with open_handler(DOWNLOAD_VERIFY_CERTIFICATES=False) as handler:
        for base in (servers.https, servers.h2):
            for meta in routes:
                assert echo_of(await handler.download_request(Request(f"{base}/echo", meta=meta)))


def test_verification_accepts_a_trusted_certificate_and_checks_the_name(servers: Servers) -> None:
    # The test CA trusted for this crawl: verification passes where the
    # certificate is right and still fails where the name is wrong.
    env = dict(os.environ, SSL_CERT_FILE=servers.cert)
    requests: list[dict[str, Any]] = [
        {"url": f"{servers.https}/echo"},
        {"url": f"{servers.h2}/echo"},
        {"url": f"{servers.https}/echo", "meta": {"proxy": servers.proxy_tls}},
        {"url": f"{servers.h2}/echo", "meta": {"tls_client_server_name": "localhost"}},
        {"url": f"{servers.h2}/echo", "meta": {"tls_client_server_name": "wrong.example"}},
        {
            "url": f"{servers.https}/echo",
            "meta": {"tls_client_server_name": "wrong.example", "proxy": servers.proxy},
        },
    ]
    spec = {"settings": {"DOWNLOAD_VERIFY_CERTIFICATES": True, "RETRY_ENABLED": False}, "requests": requests}
    results = crawl(spec, env=env)[0]["results"]
    assert [r.get("status") for r in results[:4]] == [200] * 4, results
    for failed in results[4:]:
        assert (failed.get("error"), failed.get("cause")) == ("DownloadFailedError", "NativeTLSError"), failed
        assert "wrong.example" in failed["message"]


# -- decompression bomb -----------------------------------------------------------


def test_a_decompression_bomb_stops_at_download_maxsize_without_being_decoded_whole(
    servers: Servers,
) -> None:
    # 256 MiB of payload in about 1 MiB of gzip or deflate: the handler
    # passes the small encoded body on, HttpCompressionMiddleware decodes
    # it and must stop at DOWNLOAD_MAXSIZE (4 MiB) rather than after.
    n = 256 << 20
    spec = {
        "settings": {"DOWNLOAD_MAXSIZE": 4 << 20, "DOWNLOAD_WARNSIZE": 0, "RETRY_ENABLED": False},
        "requests": [
            {"url": f"{servers.h2}/bytes?n=100000"},  # warm-up: the baseline
            {"url": f"{servers.h2}/gzip?n={n}"},
            {"url": f"{servers.https}/deflate?n={n}"},
            {"url": f"{servers.h2}/gzip?n={2 << 20}"},  # under the limit: decoded
        ],
    }
    output = crawl(spec)[0]
    results = output["results"]
    assert results[0]["status"] == 200
    for bomb in results[1:3]:
        assert bomb.get("error") == "IgnoreRequest", bomb
        assert "exceeded DOWNLOAD_MAXSIZE (4194304 B) during decompression" in bomb["message"], bomb
    assert results[3] == {"status": 200, "length": 2 << 20, "body": ""}
    growth_mib = (output["peak"] - output["rss_before"][1]) / 2**20
    assert growth_mib < 64, f"peak RSS grew {growth_mib:.0f} MiB decoding a 256 MiB bomb"


@deferred_f_from_coro_f
async def test_response_header_bytes_that_are_not_utf8_arrive_as_sent(servers: Servers) -> None:
    """A Latin-1 Location is followed to the same bytes HTTP11 gives, not to
    /caf%EF%BF%BD (U+FFFD)."""
    async with open_handler() as handler, open_http11() as http11:
        for base in (servers.http, servers.https, servers.h2):
            response = await handler.download_request(Request(f"{base}/redirect?to=/caf%E9"))
            assert response.headers[b"Location"] == b"/caf\xe9", base
        reference = await http11.download_request(Request(f"{servers.http}/redirect?to=/caf%E9"))
        assert reference.headers[b"Location"] == b"/caf\xe9"
