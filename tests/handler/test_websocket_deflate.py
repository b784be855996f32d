"""permessage-deflate (RFC 7692) on and off, with and without context
takeover, against the test server's WebSocket echo
(native/testserver/websocket.go): every message comes back byte for byte,
both ways. With context takeover the server compresses all its messages
in one flate stream, so a message it repeats refers back into the one
before: the client reads it only with the window of earlier messages."""

from __future__ import annotations

import hashlib

import pytest
from scrapy import Request
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import websocket_of

from conftest import Servers
from handler_utils import open_handler

#: Chrome's offer (the identities' websocket kind).
CHROME_OFFER = "permessage-deflate; client_max_window_bits"

#: Server mode (query) -> the Sec-WebSocket-Extensions it answers with.
MODES = {
    "off": ("?deflate=takeover", None),
    "no-context-takeover": (
        "?deflate=1",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ),
    "context-takeover": ("?deflate=takeover", "permessage-deflate"),
    # A limited client window: the client sends uncompressed (the server
    # closes with 1002 on a compressed message from it).
    "client-window-10": (
        "?deflate=takeover&client_max_window_bits=10",
        "permessage-deflate; client_max_window_bits=10",
    ),
}

_RANDOM_TEXT = hashlib.shake_256(b"deflate").hexdigest(2048)  # 4 KiB, no repeats inside
MESSAGES: list[str | bytes] = [
    _RANDOM_TEXT,
    _RANDOM_TEXT,  # refers back into the previous message with takeover
    "ünïcode ✓ " * 100,
    "",
    bytes(range(256)) * 400,  # 100 KiB binary
    _RANDOM_TEXT[:1000] + "tail",
    hashlib.shake_256(b"binary").digest(40_000),  # beyond one 32 KiB window
    b"\x00" * 70_000,
]


@pytest.mark.parametrize("mode", list(MODES))
@deferred_f_from_coro_f
async def test_messages_echo_byte_exact(servers: Servers, mode: str) -> None:
    query, answer = MODES[mode]
    base = servers.https
    url = "wss" + base[base.index(":") :] + "/ws/echo" + query
    headers = {} if mode == "off" else {"Sec-WebSocket-Extensions": CHROME_OFFER}
    async with open_handler() as handler:
        request = Request(url, headers=headers)
        response = await handler.download_request(request)
        response.request = request
        assert response.status == 101
        accepted = response.headers.get(b"Sec-WebSocket-Extensions")
        assert (accepted.decode() if accepted else None) == answer
        ws = websocket_of(response)
        received: list[str | bytes] = []
        for data in MESSAGES:
            await ws.send(data)
            message = await ws.receive()
            assert message is not None, (mode, ws.close_code, ws.close_reason)
            received.append(message.data)
        await ws.close()
        assert ws.close_code == 1000
    assert received == MESSAGES
