"""WebSockets opened by ws:// and wss:// requests, against the test
server's own WebSocket endpoints (native/testserver/websocket.go), over
plain TCP and TLS."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from scrapy.http import Response
from scrapy.utils.defer import deferred_f_from_coro_f
from test_proxies import clear_proxy_log, proxy_log

from scrapy_tlsclient import WebSocket, WebSocketConnectionLost, websocket_of
from scrapy_tlsclient._event_loop import sleep
from scrapy_tlsclient.binding import get_library

from conftest import Servers
from handler_utils import gather, library_count_settled, open_handler

SCHEMES = {"plain": ("http", "ws"), "tls": ("https", "wss")}


def ws_url(servers: Servers, transport: str, path: str) -> str:
    server, scheme = SCHEMES[transport]
    base: str = getattr(servers, server)
    return scheme + base[base.index(":") :] + path


async def open_socket(handler: Any, url: str, **meta: object) -> tuple[Response, WebSocket]:
    request = Request(url, meta=dict(meta))
    response: Response = await handler.download_request(request)
    response.request = request  # what the engine does
    return response, websocket_of(response)


async def sockets_open_settle(limit_s: float = 3.0) -> int:
    """The library's open WebSockets, once they have had ``limit_s`` to close."""
    return await library_count_settled("webSocketsOpen", limit_s)


@pytest.mark.parametrize("transport", ["plain", "tls"])
@deferred_f_from_coro_f
async def test_text_binary_and_large_messages_echo_byte_exact(servers: Servers, transport: str) -> None:
    large = hashlib.shake_256(b"websocket").digest(16 * 1024 * 1024)  # 16 MiB, no repeats
    sent: list[str | bytes] = ["hello", "ünïcode ✓", b"\x00\x01\xff" * 1000, "", large]
    async with open_handler() as handler:
        response, ws = await open_socket(handler, ws_url(servers, transport, "/ws/echo"))
        assert response.status == 101
        assert "websocket" in response.flags
        received: list[str | bytes] = []
        for data in sent:
            await ws.send(data)
            message = await ws.receive()
            assert message is not None
            received.append(message.data)
        await ws.close(4001, "enough")
        assert ws.closed
        # The echo server answers a close frame with its code.
        assert (ws.close_code, ws.close_reason) == (4001, "enough")
    assert [type(r) for r in received] == [type(s) for s in sent]
    assert received[:4] == sent[:4]
    assert hashlib.sha256(received[4]).digest() == hashlib.sha256(large).digest()  # type: ignore[arg-type]
    assert await sockets_open_settle() == 0


@pytest.mark.parametrize("transport", ["plain", "tls"])
@deferred_f_from_coro_f
async def test_fragmented_and_deflated_messages_arrive_whole(servers: Servers, transport: str) -> None:
    text = "".join(f"line {n}\n" for n in range(20_000))  # ~200 KB
    async with open_handler() as handler:
        _, fragmented = await open_socket(handler, ws_url(servers, transport, "/ws/echo?frag=1000"))
        await fragmented.send(text)
        message = await fragmented.receive()
        assert message is not None and message.text == text
        await fragmented.close()

        request_headers = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
        request = Request(ws_url(servers, transport, "/ws/echo?deflate=1"), headers=request_headers)
        response = await handler.download_request(request)
        response.request = request
        assert b"permessage-deflate" in response.headers.get(b"Sec-WebSocket-Extensions", b"")
        deflated = websocket_of(response)
        await deflated.send(text)
        await deflated.send(text.encode())
        first, second = await deflated.receive(), await deflated.receive()
        assert first is not None and first.data == text
        assert second is not None and second.data == text.encode()
        await deflated.close()


@deferred_f_from_coro_f
async def test_server_close_code_and_reason_are_surfaced(servers: Servers) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", "/ws/close?code=4321&reason=bye%20now"))
        await ws.send("go")
        await sleep(0.5)  # the close arrives; the library releases the socket
        with pytest.raises(DownloadCancelledError, match="is closed"):
            await ws.send("too late")
        assert [m async for m in ws] == []
        assert (ws.close_code, ws.close_reason) == (4321, "bye now")
        assert ws.closed
    assert await sockets_open_settle() == 0


@pytest.mark.parametrize("transport", ["plain", "tls"])
@deferred_f_from_coro_f
async def test_abrupt_disconnect_is_an_error_not_an_end(servers: Servers, transport: str) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, transport, "/ws/drop"))
        first = await ws.receive()
        assert first is not None and first.data == "bye"
        with pytest.raises(WebSocketConnectionLost, match="without a close frame"):
            await ws.receive()
        assert ws.close_code is None
        assert isinstance(WebSocketConnectionLost("x"), DownloadFailedError)
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_server_ping_is_answered(servers: Servers) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", "/ws/ping?payload=p1"))
        message = await ws.receive()
        assert message is not None and message.data == "pong:p1"
        await ws.close()


@deferred_f_from_coro_f
async def test_a_refused_handshake_is_an_ordinary_response(servers: Servers) -> None:
    async with open_handler() as handler:
        request = Request(ws_url(servers, "tls", "/status/403"))
        response = await handler.download_request(request)
        response.request = request
        assert response.status == 403
        assert "websocket" not in response.flags
        with pytest.raises(ValueError, match="has no WebSocket"):
            websocket_of(response)


@deferred_f_from_coro_f
async def test_breaking_out_of_the_loop_closes_the_socket(servers: Servers) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", "/ws/echo"))
        await ws.send("one")
        async for _message in ws:
            break
        assert await sockets_open_settle() == 0
        with pytest.raises(Exception, match="closed"):
            await ws.send("two")


@deferred_f_from_coro_f
async def test_the_handler_closing_closes_open_sockets(servers: Servers) -> None:
    async with open_handler() as handler:
        sockets = [(await open_socket(handler, ws_url(servers, "tls", "/ws/echo")))[1] for _ in range(5)]
        assert get_library().stats()["webSocketsOpen"] >= 5
    assert all(ws.closed for ws in sockets)
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_handshake_headers_keep_the_request_order(servers: Servers) -> None:
    headers = [
        ("Origin", "https://example.com"),
        ("User-Agent", "agent/1"),
        ("X-Name", "ü".encode()),  # bytes as sent, not re-encoded
        ("Accept-Language", "en"),
    ]
    async with open_handler() as handler:
        request = Request(ws_url(servers, "tls", "/ws/headers"), headers=headers)
        response = await handler.download_request(request)
        response.request = request
        ws = websocket_of(response)
        message = await ws.receive()
        assert message is not None
        await ws.close()
    fields = json.loads(message.text)
    names = [name.lower() for name, _ in fields]
    sent = [name.lower() for name, _ in headers]
    assert [n for n in names if n in sent] == sent
    assert ["X-Name", "ü"] in fields
    assert {"sec-websocket-key", "sec-websocket-version", "upgrade", "connection", "host"} <= set(names)


@pytest.mark.parametrize("profile", ["chrome_152", "firefox_135"])
@deferred_f_from_coro_f
async def test_handshake_client_hello_is_the_profiles(servers: Servers, profile: str) -> None:
    """The same ClientHello as the profile's other connections, but for
    ALPN, which offers http/1.1 only (JA4's "h1" instead of "h2"), and
    without Chrome's ALPS extension, which names h2 only (as Chromium's own
    handshake connections: tests/handler/test_websocket_handshake.py)."""
    base = servers.fingerprint
    async with open_handler() as handler:
        page = await handler.download_request(Request(f"{base}/", meta={"tls_client_profile": profile}))
        _, ws = await open_socket(handler, "wss" + base[len("https") :] + "/", tls_client_profile=profile)
        message = await ws.receive()
        assert message is not None
        assert [m async for m in ws] == []
    regular, handshake = json.loads(page.body), json.loads(message.text)
    assert regular["alpn"][0] == "h2" and handshake["alpn"] == ["http/1.1"]
    page_head, page_ciphers, _ = regular["ja4"].split("_")
    head, ciphers, _ = handshake["ja4"].split("_")
    assert ciphers == page_ciphers
    extensions = int(page_head[6:8]) - (1 if profile.startswith("chrome") else 0)
    assert head == f"{page_head[:6]}{extensions:02d}h1"
    if not profile.startswith("chrome"):
        assert handshake["ja4"] == regular["ja4"].replace("h2_", "h1_", 1)
    assert handshake["http_version"] == "http/1.1"


@deferred_f_from_coro_f
async def test_sends_not_awaited_one_by_one_keep_their_order(servers: Servers) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "plain", "/ws/echo"))
        await gather(*(ws.send(str(n)) for n in range(50)))
        received = [await ws.receive() for _ in range(50)]
        await ws.close()
    assert [m.data for m in received if m is not None] == [str(n) for n in range(50)]


@pytest.mark.parametrize("kind", ["connect", "socks5"])
@deferred_f_from_coro_f
async def test_sockets_go_through_the_requests_proxy(servers: Servers, kind: str) -> None:
    proxy = servers.proxy if kind == "connect" else servers.socks5
    name = "proxy" if kind == "connect" else "socks5"
    clear_proxy_log(servers)
    async with open_handler() as handler:
        for transport in ("tls", "plain"):
            _, ws = await open_socket(handler, ws_url(servers, transport, "/ws/echo"), proxy=proxy)
            await ws.send(f"via {kind}")
            message = await ws.receive()
            assert message is not None and message.data == f"via {kind}"
            await ws.close()
    entries = [e for e in proxy_log(servers) if e["proxy"] == name]
    https_port, http_port = (url.rsplit(":", 1)[1] for url in (servers.https, servers.http))
    assert sorted(str(e["target"]).rsplit(":", 1)[1] for e in entries) == sorted([https_port, http_port])


def os_threads() -> int:
    """This process's OS threads (Python's and the Go runtime's)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


@deferred_f_from_coro_f
async def test_100_concurrent_sockets_with_a_bounded_number_of_threads(servers: Servers) -> None:
    async def talk(n: int) -> list[str]:
        _, ws = await open_socket(handler, ws_url(servers, "tls", f"/ws/echo?n={n}"))
        got = []
        for i in range(10):
            await ws.send(f"{n}-{i}")
            message = await ws.receive()
            got.append(message.text if message is not None else "")
        await ws.close()
        return got

    async with open_handler() as handler:
        await talk(-1)  # the library's threads for one socket are up
        before = os_threads()
        results = await gather(*(talk(n) for n in range(100)))
        during = os_threads()
    assert results == [[f"{n}-{i}" for i in range(10)] for n in range(100)]
    # Sockets wait in Go's network poller and the handler's event loop:
    # no thread per socket.
    assert during - before < 20, (before, during)
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_a_closed_port_is_a_refused_connection() -> None:
    async with open_handler() as handler:
        for url in ("ws://127.0.0.1:1/", "wss://127.0.0.1:1/"):
            with pytest.raises(DownloadConnectionRefusedError):
                await handler.download_request(Request(url))
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_download_timeout_bounds_the_handshake(servers: Servers) -> None:
    async with open_handler() as handler:
        started = time.monotonic()
        with pytest.raises(DownloadTimeoutError):
            await handler.download_request(
                Request(ws_url(servers, "tls", "/slow?delay_ms=5000"), meta={"download_timeout": 0.5})
            )
        assert time.monotonic() - started < 2.0


@deferred_f_from_coro_f
async def test_a_sessions_open_socket_keeps_it_from_eviction(servers: Servers) -> None:
    # One session at most: another profile's request would evict the
    # socket's session, and destroying it would cut the socket.
    async with open_handler(TLS_CLIENT_MAX_SESSIONS=1) as handler:
        _, ws = await open_socket(
            handler, ws_url(servers, "tls", "/ws/echo"), tls_client_profile="chrome_156_windows"
        )
        for profile in ("firefox_153esr_linux", "safari_26_ios"):
            response = await handler.download_request(
                Request(servers.https + "/status/200", meta={"tls_client_profile": profile})
            )
            assert response.status == 200
        await ws.send("still here")
        message = await ws.receive()
        assert message is not None and message.text == "still here"
        await ws.close()
        assert ws.close_code == 1000
