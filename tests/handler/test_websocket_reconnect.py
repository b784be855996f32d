"""A WebSocket's reader giving up on silence, opening the socket again
after a loss, and holding the server back while it pauses: against the
test server's WebSocket endpoints (native/testserver/websocket.go), whose
``?tag=`` records what each socket did."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from scrapy import Request
from scrapy.utils.defer import deferred_f_from_coro_f
from test_websocket import open_socket, sockets_open_settle, ws_url

from scrapy_tlsclient import (
    WebSocket,
    WebSocketConnectionFailed,
    WebSocketIdleTimeout,
)
from scrapy_tlsclient._event_loop import sleep

from conftest import Servers
from handler_utils import open_handler


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


async def server_record(handler: Any, servers: Servers, path: str) -> Any:
    """A JSON record the test server keeps (/ws-closes, /ws-stalls)."""
    response = await handler.download_request(Request(servers.http + path))
    return json.loads(response.body)


async def drain(socket: WebSocket, **options: Any) -> list[str]:
    """Every message of ``socket.messages(**options)``, as text."""
    return [message.text async for message in socket.messages(**options)]


async def settled_closes(handler: Any, servers: Servers, tag: str, count: int) -> list[int]:
    """The close codes the server recorded under ``tag``, once ``count``
    of them arrived (or 3 s passed)."""
    deadline = time.monotonic() + 3.0
    while True:
        codes: list[int] = await server_record(handler, servers, f"/ws-closes?tag={tag}")
        if len(codes) >= count or time.monotonic() > deadline:
            return codes
        await sleep(0.05)


@deferred_f_from_coro_f
async def test_a_silent_socket_is_given_up_after_the_idle_timeout(servers: Servers) -> None:
    tag = new_tag()
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", f"/ws/echo?tag={tag}"))
        started = time.monotonic()
        with pytest.raises(WebSocketIdleTimeout, match=r"No message in 1\.0 s"):
            await drain(ws, idle_timeout=1.0)
        waited = time.monotonic() - started
        assert 1.0 <= waited < 2.5, waited
        assert ws.closed
        assert await settled_closes(handler, servers, tag, 1) == [1001]  # going away
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_messages_keep_an_idle_timeout_from_firing(servers: Servers) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", "/ws/ticks?rate=10&seconds=2"))
        assert len(await drain(ws, idle_timeout=0.5)) == 20
        assert ws.close_code == 1000


@deferred_f_from_coro_f
async def test_a_lost_connection_is_opened_again_and_resubscribed(servers: Servers) -> None:
    tag = new_tag()
    resubscribed: list[WebSocket] = []

    async def on_reconnect(socket: WebSocket) -> None:
        resubscribed.append(socket)

    async with open_handler() as handler:
        # The server cuts each connection after "bye", and refuses a
        # fourth handshake (503): the reader ends there.
        _, ws = await open_socket(handler, ws_url(servers, "plain", f"/ws/drop?tag={tag}&opens=3"))
        received: list[str] = []

        async def read() -> None:
            async for message in ws.messages(reconnect=True, on_reconnect=on_reconnect, retry_s=0.05):
                received.append(message.text)  # noqa: PERF401 (kept when the loop raises)

        with pytest.raises(WebSocketConnectionFailed, match="answered with 503, not 101"):
            await read()
        assert received == ["bye", "bye", "bye"]
        assert resubscribed == [ws, ws]
        assert ws.reconnects == 2
        assert handler.crawler.stats.get_value("tls_client/websockets/reconnected") == 2
        record = await server_record(handler, servers, f"/ws-stalls?tag={tag}")
        assert record["opens"] == 4
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_a_server_restart_close_reconnects_a_normal_close_ends(servers: Servers) -> None:
    tag = new_tag()
    async with open_handler() as handler:
        # 1012 (service restart): open again, subscribe ("go") again.
        _, ws = await open_socket(handler, ws_url(servers, "tls", f"/ws/close?code=1012&tag={tag}&opens=2"))
        await ws.send("go")
        with pytest.raises(WebSocketConnectionFailed):
            await drain(ws, reconnect=True, on_reconnect=lambda s: s.send("go"), retry_s=0)
        assert ws.reconnects == 1
        # 1000: the server is done; nothing to reconnect to.
        _, done = await open_socket(handler, ws_url(servers, "tls", "/ws/close?code=1000&reason=bye"))
        await done.send("go")
        assert await drain(done, reconnect=True, retry_s=0) == []
        assert (done.close_code, done.reconnects) == (1000, 0)
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_max_reconnects_bounds_the_attempts_without_a_message(servers: Servers) -> None:
    tag = new_tag()
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", f"/ws/echo?tag={tag}"))
        started = time.monotonic()
        with pytest.raises(WebSocketIdleTimeout):
            await drain(ws, idle_timeout=0.5, reconnect=True, max_reconnects=2, retry_s=0.05)
        assert time.monotonic() - started < 6.0
        assert ws.reconnects == 2
        assert await settled_closes(handler, servers, tag, 3) == [1001, 1001, 1001]
    assert await sockets_open_settle() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"idle_timeout": 0}, "idle_timeout must be a positive number of seconds or None, got 0"),
        ({"max_reconnects": -1}, "max_reconnects must be a whole number >= 0 or None, got -1"),
        ({"retry_s": 60}, "retry_s must be a number of seconds from 0 to 30.0, got 60"),
    ],
)
@deferred_f_from_coro_f
async def test_bad_reader_options_are_refused_by_name(
    servers: Servers, options: dict[str, Any], message: str
) -> None:
    async with open_handler() as handler:
        _, ws = await open_socket(handler, ws_url(servers, "tls", "/ws/echo"))
        with pytest.raises(ValueError, match=message):
            await drain(ws, **options)
        # Refused before reading: the socket is still there to read.
        await ws.send("still open")
        message = await ws.receive()
        assert message is not None and message.text == "still open"
        await ws.close()
    assert await sockets_open_settle() == 0


@deferred_f_from_coro_f
async def test_a_paused_reader_holds_the_server_back_and_loses_nothing(servers: Servers) -> None:
    # 19.7 MB: more than the credit window, the library's buffer and the
    # loopback socket buffers together, so the server's writes must wait.
    tag, count, size = new_tag(), 1200, 16 * 1024
    async with open_handler() as handler:
        _, ws = await open_socket(
            handler, ws_url(servers, "plain", f"/ws/send?n={count}&size={size}&binary=1&tag={tag}")
        )
        first = await ws.receive()
        await sleep(3.0)
        rest = [m async for m in ws]
        assert ws.close_code == 1000 and ws.close_reason == "done"
        record = await server_record(handler, servers, f"/ws-stalls?tag={tag}")
    numbers = [int(m.bytes.split(b":")[0]) for m in [first, *rest] if m is not None]
    assert numbers == list(range(count))
    assert all(len(m.bytes) == size for m in rest)
    # One of the server's writes waited for most of the pause.
    assert record["longest_write_ms"] > 1500, record
