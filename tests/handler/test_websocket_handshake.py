"""The WebSocket opening handshake as the profile's browser sends it:
TLSClientMiddleware dresses a wss:// request with the identity's
``websocket`` kind, the handler places the headers the websocket library
writes itself where the browser writes them, and the fingerprint server
(native/testserver/fingerprint_record.go) reports what arrived, in wire
order and case, as the socket's first message."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from scrapy_tlsclient._identities import load_identities, packaged_identity_files

from conftest import Servers, run_python

IDENTITIES = load_identities(packaged_identity_files())

CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy_tlsclient import websocket_of

page_url, socket_url, profiles = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
seen, pages = {}, {}

class Spider(scrapy.Spider):
    name = "handshakes"

    async def start(self):
        for profile in profiles:
            # The page's cookies (a=1, b=2) go into Scrapy's cookie jar; the
            # socket on the same host carries them from there.
            meta = {"tls_client_profile": profile, "tls_client_session": profile, "cookiejar": profile}
            yield scrapy.Request(page_url, meta=meta, cookies={"a": "1", "b": "2"}, dont_filter=True,
                                 callback=self.page)

    def page(self, response):
        pages[response.meta["tls_client_profile"]] = json.loads(response.body)
        meta = {key: response.meta[key] for key in ("tls_client_profile", "tls_client_session", "cookiejar")}
        yield scrapy.Request(socket_url, meta=meta, headers={"Sec-WebSocket-Protocol": "chat.v1"},
                             dont_filter=True, callback=self.socket)

    async def socket(self, response):
        ws = websocket_of(response)
        message = await ws.receive()
        seen[response.meta["tls_client_profile"]] = json.loads(message.text)
        await ws.close()
        return
        yield

process = CrawlerProcess({
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
    "DOWNLOAD_HANDLERS": {scheme: "scrapy_tlsclient.TLSClientDownloadHandler" for scheme in ("https", "wss")},
    "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
})
process.crawl(Spider)
process.start()
print(json.dumps({"sockets": seen, "pages": pages}))
"""

PROFILES = ["chrome_156_windows", "edge_156_windows", "firefox_153esr_linux", "safari_26_ios"]


def handshakes(servers: Servers) -> dict[str, Any]:
    socket_url = "wss" + servers.fingerprint[len("https") :] + "/"
    page_url = f"{servers.fingerprint}/page"
    result = run_python(CRAWL, page_url, socket_url, ",".join(PROFILES), env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(seen["sockets"]) == sorted(seen["pages"]) == sorted(PROFILES), result.stderr[-3000:]
    return seen


@pytest.fixture(scope="module")
def seen(servers: Servers) -> dict[str, Any]:
    return handshakes(servers)


@pytest.mark.parametrize("profile", PROFILES)
def test_handshake_headers_are_the_identitys_websocket_kind_in_order(
    seen: dict[str, Any], profile: str
) -> None:
    identity = IDENTITIES[profile]
    record = seen["sockets"][profile]
    assert record["http_version"] == "http/1.1"
    written = {name.lower(): name for name in identity.http1_names}
    kind = identity.kinds["websocket"]
    # Every header of the kind: the request has a Cookie and a subprotocol,
    # the library draws the key; Host first, as the captured browsers.
    expected = ["Host", *(written[name] for name, _ in kind)]
    assert [name for name, _ in record["headers"]] == expected, record["headers"]
    sent = {name.lower(): value for name, value in record["headers"]}
    socket_origin = "https://" + record["headers"][0][1]
    values = {
        "user-agent": identity.user_agent,
        "origin": socket_origin,
        "cookie": "a=1; b=2",
        "sec-websocket-protocol": "chat.v1",
    }
    for name, value in kind:
        if name != "sec-websocket-key":
            assert sent[name] == (values[name] if value is None else value), name
    assert len(sent["sec-websocket-key"]) == 24  # 16 random bytes, base64


def captured_handshake_ja4(capture: str) -> set[str]:
    """The JA4s of a real browser's WebSocket handshakes (native/captures)."""
    document = json.loads((CAPTURES / capture).read_text())
    return {r["ja4"] for run in document["runs"] for r in run["requests"] if r["kind"] == "websocket"}


CAPTURES = Path(__file__).resolve().parents[2] / "native" / "captures"
CHROMIUM_HANDSHAKE_JA4 = captured_handshake_ja4("chromium-156.0.8078.114-linux-websocket.json")


@pytest.mark.parametrize("profile", PROFILES)
def test_handshake_client_hello_is_the_browsers(seen: dict[str, Any], profile: str) -> None:
    record, page = seen["sockets"][profile], seen["pages"][profile]
    assert record["alpn"] == ["http/1.1"] and page["alpn"][0] == "h2"
    published = IDENTITIES[profile].published
    if published is not None:
        assert page["ja4"] == published.ja4
    if IDENTITIES[profile].family in ("chrome", "edge"):
        # Chromium's: ALPN http/1.1 and no ALPS, as captured from the
        # real browser (the page's ClientHello less application_settings).
        assert {record["ja4"]} == CHROMIUM_HANDSHAKE_JA4
        assert record["ja4"].startswith("t13d1516h1_") and page["ja4"].startswith("t13d1517h2_")
    else:
        # No ALPS to drop: the identity's ClientHello with ALPN http/1.1
        # only, JA4's "h2" read "h1" (Firefox's own handshake connection
        # differs: docs/websocket.rst).
        assert record["ja4"] == page["ja4"].replace("h2_", "h1_", 1)
