"""Proxies from meta["proxy"], through real proxies on loopback."""

from __future__ import annotations

import base64
import json
from urllib.request import Request as URLRequest
from urllib.request import urlopen

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.exceptions import DownloadConnectionRefusedError, DownloadFailedError
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from scrapy_tlsclient.binding import NativeTLSError

from conftest import Servers
from handler_utils import open_handler, open_http11

CREDENTIALS = "Basic " + base64.b64encode(b"user:pass").decode()


def proxy_log(servers: Servers) -> list[dict[str, object]]:
    with urlopen(f"{servers.http}/proxy-log", timeout=10) as answer:
        entries: list[dict[str, object]] = json.load(answer)["entries"]
    return entries


def clear_proxy_log(servers: Servers) -> None:
    urlopen(URLRequest(f"{servers.http}/proxy-log", method="DELETE"), timeout=10).close()


def echo_request(base: str, proxy: str, auth: str | None = None) -> Request:
    headers = {"Proxy-Authorization": auth} if auth else {}
    # HttpProxyMiddleware sets exactly this header from proxy credentials.
    return Request(f"{base}/echo", meta={"proxy": proxy}, headers=headers)


@deferred_f_from_coro_f
async def test_http_proxy_credentials_reach_the_proxy_never_the_target(servers: Servers) -> None:
    clear_proxy_log(servers)
    async with open_handler() as handler:
        for target in (servers.http, servers.https, servers.h2):
            response = await handler.download_request(echo_request(target, servers.proxy_auth, CREDENTIALS))
            assert response.status == 200
            echo = json.loads(response.body)
            # The canary: the target never sees the proxy credentials.
            assert not [name for name, _ in echo["headers"] if name.lower() == "proxy-authorization"]
    entries = [e for e in proxy_log(servers) if e["proxy"] == "proxy_auth"]
    # http:// as a forward-proxy request, https:// through a CONNECT tunnel.
    assert {(e["method"], str(e["target"]).startswith("http://")) for e in entries} == {
        ("GET", True),
        ("CONNECT", False),
    }
    assert all(e["proxy_authorization"] == CREDENTIALS and e["status"] == 200 for e in entries)


@deferred_f_from_coro_f
async def test_proxy_without_credentials_and_unreachable_proxy(servers: Servers) -> None:
    async with open_handler() as handler:
        plain = await handler.download_request(echo_request(servers.https, servers.proxy))
        assert plain.status == 200
        with pytest.raises(DownloadFailedError, match="407"):
            await handler.download_request(echo_request(servers.https, servers.proxy_auth))
        with pytest.raises(DownloadConnectionRefusedError):
            await handler.download_request(echo_request(servers.https, "http://127.0.0.1:1"))


@deferred_f_from_coro_f
async def test_socks5_proxy_with_credentials(servers: Servers) -> None:
    clear_proxy_log(servers)
    async with open_handler() as handler:
        response = await handler.download_request(echo_request(servers.h2, servers.socks5, CREDENTIALS))
        assert response.status == 200
        assert not [n for n, _ in json.loads(response.body)["headers"] if n.lower() == "proxy-authorization"]
    entries = [e for e in proxy_log(servers) if e["proxy"] == "socks5"]
    assert [e["socks_user"] for e in entries] == ["user"]


@deferred_f_from_coro_f
async def test_unsupported_proxy_scheme_is_refused(servers: Servers) -> None:
    async with open_handler() as handler:
        with pytest.raises(ValueError, match="accepted: http, https, socks5"):
            await handler.download_request(echo_request(servers.http, "ftp://127.0.0.1:21"))


@deferred_f_from_coro_f
async def test_bind_address(servers: Servers) -> None:
    async with open_handler(DOWNLOAD_BIND_ADDRESS="127.0.0.2") as handler:
        echo = json.loads((await handler.download_request(Request(f"{servers.http}/echo"))).body)
        assert echo["remote"].startswith("127.0.0.2:")
        request = Request(f"{servers.http}/echo", meta={"bindaddress": ("127.0.0.3", 0)})
        echo = json.loads((await handler.download_request(request)).body)
        assert echo["remote"].startswith("127.0.0.3:")


def through_proxy_middleware(request: Request) -> Request:
    """The request as HttpProxyMiddleware hands it to the handler."""
    HttpProxyMiddleware.from_crawler(get_crawler()).process_request(request)
    return request


@deferred_f_from_coro_f
async def test_proxy_without_scheme_is_an_http_proxy(servers: Servers) -> None:
    """ "host:port" (and "//host:port", which HttpProxyMiddleware makes of it)
    is an http:// proxy, as with Scrapy's HTTP11 handler, beside which it runs."""
    bare = servers.proxy.removeprefix("http://")
    bare_auth = servers.proxy_auth.removeprefix("http://")
    for target in (servers.http, servers.https):
        for opened in (open_handler(), open_http11()):
            clear_proxy_log(servers)
            async with opened as handler:
                requests = [
                    echo_request(target, bare),
                    through_proxy_middleware(echo_request(target, bare)),
                    through_proxy_middleware(echo_request(target, f"user:pass@{bare_auth}")),
                ]
                assert requests[1].meta["proxy"] == f"//{bare}"
                for request in requests:
                    response = await handler.download_request(request)
                    assert response.status == 200, (type(handler).__name__, target, request.meta)
                    echo = json.loads(response.body)
                    assert not [n for n, _ in echo["headers"] if n.lower() == "proxy-authorization"]
            # A tunnel may carry both requests to the same proxy: one entry.
            entries = proxy_log(servers)
            assert {e["proxy"] for e in entries} == {"proxy", "proxy_auth"}, (type(handler).__name__, entries)
            assert all(e["status"] == 200 for e in entries), entries


@deferred_f_from_coro_f
async def test_plain_http_targets_go_to_the_proxy_in_absolute_form(servers: Servers) -> None:
    """As with Scrapy's HTTP11 handler (run beside it), curl and browsers: no
    CONNECT tunnel for http://, credentials to the proxy only."""
    target = f"{servers.http}/some/path?q=1"
    for opened in (open_handler(), open_http11()):
        async with opened as handler:
            name = type(handler).__name__
            download = handler.download_request
            # A forward proxy that answers itself shows the request line it got.
            auth = {"Proxy-Authorization": CREDENTIALS}
            response = await download(Request(target, meta={"proxy": servers.proxy_echo}, headers=auth))
            assert response.status == 200, name
            echoed = json.loads(response.body)
            assert (echoed["method"], echoed["target"]) == ("GET", target), name
            assert echoed["proxy_authorization"] == CREDENTIALS, name
            assert response.url == target
            # A proxy that only tunnels refuses an http:// request (405), and
            # tunnels https:// as before.
            refused = await download(Request(target, meta={"proxy": servers.proxy_connect_only}))
            assert refused.status == 405, name
            tunnelled = echo_request(servers.https, servers.proxy_connect_only)
            assert (await handler.download_request(tunnelled)).status == 200, name
            # Through a real forward proxy the target sees no credentials.
            clear_proxy_log(servers)
            response = await download(echo_request(servers.http, servers.proxy_auth, CREDENTIALS))
            assert response.status == 200, name
            echo = json.loads(response.body)
            assert not [n for n, _ in echo["headers"] if n.lower() == "proxy-authorization"]
            [entry] = proxy_log(servers)
            assert (entry["method"], entry["target"], entry["proxy_authorization"]) == (
                "GET",
                f"{servers.http}/echo",
                CREDENTIALS,
            ), name


@deferred_f_from_coro_f
async def test_plain_http_target_through_https_proxy_and_refusals(servers: Servers) -> None:
    async with open_handler() as handler:
        clear_proxy_log(servers)
        response = await handler.download_request(echo_request(servers.http, servers.proxy_tls))
        assert response.status == 200
        assert response.certificate is None  # the proxy hop's TLS is not the target's
        [entry] = proxy_log(servers)
        assert (entry["proxy"], entry["method"]) == ("proxy_tls", "GET")
        # Without credentials the proxy's 407 is the response, as with HTTP11.
        assert (await handler.download_request(echo_request(servers.http, servers.proxy_auth))).status == 407
        with pytest.raises(DownloadConnectionRefusedError):
            await handler.download_request(echo_request(servers.http, "http://127.0.0.1:1"))


@deferred_f_from_coro_f
async def test_https_proxy_certificate_follows_download_verify_certificates(servers: Servers) -> None:
    """The self-signed HTTPS proxy is used as is with verification off
    (Scrapy's default) and refused, saying why, with it on; for http://
    (forward) and https:// (CONNECT) targets alike."""
    async with open_handler() as handler:
        for base in (servers.http, servers.https, servers.h2):
            response = await handler.download_request(echo_request(base, servers.proxy_tls, CREDENTIALS))
            assert response.status == 200, base
            echo = json.loads(response.body)
            assert not [n for n, _ in echo["headers"] if n.lower() == "proxy-authorization"]
    async with open_handler(DOWNLOAD_VERIFY_CERTIFICATES=True) as handler:
        for base in (servers.http, servers.https):
            with pytest.raises(DownloadFailedError, match="SSL_CERT_FILE") as failed:
                await handler.download_request(echo_request(base, servers.proxy_tls))
            assert isinstance(failed.value.__cause__, NativeTLSError), base
