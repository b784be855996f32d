"""Opening the WebSockets of ``ws://`` and ``wss://`` requests (the
handler's side of scrapy_tlsclient.websocket).

The request goes through the same mapping as any other (profile,
session, proxy, headers in the browser's order, cookies Scrapy's
middleware set), then to the library's ``openWebSocket`` instead of
``requestStream`` (docs/abi.rst, "WebSockets"). A 101 answer gets a
WebSocket in its request's meta, whose messages the library pushes with
credit; any other status is an ordinary response with its body's start.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

from scrapy.exceptions import DownloadCancelledError

from ._request_input import request_input_from
from ._response_args import scrapy_headers
from ._scrapy_errors import scrapy_error_for
from .binding.errors import NativeError
from .websocket import WEBSOCKET_META_KEY, WebSocket, WebSocketConnectionFailed

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from .handler import TLSClientDownloadHandler

__all__ = ["HEARTBEAT_S", "WebSocketOpener"]

#: A consumer waiting on a quiet socket wakes this often to notice the
#: crawl closing (as a quiet pushed stream does).
HEARTBEAT_S = 0.5


class WebSocketOpener:
    """Opens the handler's WebSockets and closes those still open with it."""

    def __init__(self, handler: TLSClientDownloadHandler) -> None:
        self._handler = handler
        self._open: weakref.WeakSet[WebSocket] = weakref.WeakSet()

    async def open(self, request: Request) -> Response:
        from .handler import _make_response  # the handler imports this module

        handler = self._handler
        if handler._closing:
            raise DownloadCancelledError(f"The download handler is closed; not opening {request.url}")
        socket_id = f"{handler._stream_prefix}{next(handler._stream_numbers)}"
        # A socket's messages go to the spider, not to a cache.
        request.meta["dont_cache"] = True
        call = request_input_from(
            request,
            handler._config,
            stream_id=socket_id,
            profiles=handler._profiles,
            clients=handler._clients,
        )
        session_id, evicted = handler._sessions.session_for(call.session_key)
        if evicted is not None:
            await handler._runner.run(handler._library.destroy_session, evicted)
        request_input = call.on_session(session_id)
        handler._count("requests")
        handler._count("websockets/requested")
        started = time.monotonic()
        try:
            # The library bounds the handshake by the request's timeout.
            native = await handler._calls.open_websocket(request_input)
        except NativeError as exc:
            raise scrapy_error_for(exc, request, call.timeout, before_headers=True) from exc
        request.meta["download_latency"] = time.monotonic() - started
        headers = scrapy_headers(native)
        base_args = handler._response_args(native, request, headers)
        base_args["flags"] = []
        if native.stream_id is None:
            handler._count("websockets/refused")
            return _make_response(base_args, native.body)
        # The session outlives the socket: evicting it would cut the socket.
        handler._sessions.pin(session_id)

        def closed() -> None:
            handler._sessions.unpin(session_id)
            handler._count("websockets/closed")

        socket = WebSocket(
            request=request,
            socket_id=native.stream_id,
            calls=handler._calls,
            pushed=handler._calls.push_websocket(native.stream_id, HEARTBEAT_S),
            cancel_native=lambda sid: handler._runner.submit(handler._library.cancel_stream, sid),
            is_closing=handler._crawl_closing,
            on_close=closed,
            reopen=lambda: self._reopen(request),
        )
        handler._count("websockets/opened")
        self._open.add(socket)
        request.meta[WEBSOCKET_META_KEY] = socket
        # The 101 is the success of a WebSocket request: HttpErrorMiddleware
        # passes only 2xx unless told, and would drop it with its socket.
        allowed = request.meta.get("handle_httpstatus_list") or []
        if 101 not in allowed:
            request.meta["handle_httpstatus_list"] = [*allowed, 101]
        return _make_response(base_args, b"", flags=["websocket"])

    async def _reopen(self, request: Request) -> WebSocket:
        """Open ``request``'s socket again, for reconnection: the same
        request straight to the library (Scrapy's middlewares ran for the
        first connection); any answer but 101 fails it."""
        again = request.replace()
        response = await self.open(again)
        socket = again.meta.get(WEBSOCKET_META_KEY)
        if response.status != 101 or not isinstance(socket, WebSocket):
            raise WebSocketConnectionFailed(
                f"Reopening the WebSocket {request.url} was answered with {response.status}, not 101"
            )
        self._handler._count("websockets/reconnected")
        return socket

    def close_all(self) -> list[str]:
        """End every socket still open (the handler is closing) and return
        their ids, for the handler to cancel before it destroys the
        sessions: cancelling sends each a going-away close frame, which a
        destroyed session's closed connection could not."""
        return [socket_id for socket in list(self._open) if (socket_id := socket.detach()) is not None]
