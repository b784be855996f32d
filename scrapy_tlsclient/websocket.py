"""The spider-facing WebSocket API.

A request for a ``ws://`` or ``wss://`` URL opens a WebSocket with the
profile's fingerprint; its callback gets the handshake's response (status
101) and reads the socket through ``websocket_of(response)``::

    async def parse(self, response):
        ws = websocket_of(response)
        await ws.send('{"subscribe": "trades"}')
        async for message in ws:
            yield {"trade": message.json()}

Messages arrive in order as they come, within the credit the consumer
gives back (a slow spider slows the server; nothing is dropped). Breaking
out of the loop, an exception in it, the crawl stopping or the object
being collected closes the socket with a close frame.
``messages(idle_timeout=..., reconnect=True, on_reconnect=...)`` gives up
on a silent socket and opens it again after a loss, as a live feed's
reader would. docs/websocket.rst.
"""

from __future__ import annotations

import inspect
import json
import logging
import random
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)

from ._event_loop import sleep
from ._live import release_native
from .binding.errors import NativeCancelledError, NativeError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from scrapy import Request
    from scrapy.http import Response

    from ._completions import CompletionDispatcher, PushedStream
    from .binding.envelopes import WebSocketEvent

logger = logging.getLogger("scrapy_tlsclient")

__all__ = [
    "WebSocket",
    "WebSocketConnectionFailed",
    "WebSocketConnectionLost",
    "WebSocketIdleTimeout",
    "WebSocketMessage",
    "websocket_of",
]

#: A WebSocket lives in its request's meta (so in ``response.meta``), as a
#: streamed response's body does (streaming.STREAM_META_KEY says why).
WEBSOCKET_META_KEY: Final = "_tls_client_websocket"

#: Close codes a client may send (RFC 6455 7.4.1-7.4.2): 1000 normal, and
#: 3000-4999 for libraries and applications; the others are reserved.
NORMAL_CLOSURE: Final = 1000
#: The longest close reason: a control frame carries 125 bytes, 2 of them
#: the code.
CLOSE_REASON_MAX: Final = 123
#: The peer's close codes after which ``reconnect=True`` opens the socket
#: again: the server going away or restarting, overloaded, or a gateway
#: that lost its upstream (RFC 6455 7.4.1; 1012-1014 from the IANA
#: registry). A normal close (1000) and the refusals (1002-1010) end it.
RECONNECT_CLOSE_CODES: Final = frozenset({1001, 1011, 1012, 1013, 1014})
#: The longest wait between reconnection attempts: the delay doubles from
#: ``retry_s`` up to this.
RETRY_MAX_S: Final = 30.0
#: The shortest: even with ``retry_s=0`` a server that refuses every
#: attempt gets at most 20 a second.
RETRY_MIN_S: Final = 0.05


class WebSocketConnectionLost(DownloadFailedError):
    """The connection ended without a close frame (reset, cut, TLS error):
    messages may have been lost, unlike after the peer's close."""


class WebSocketIdleTimeout(WebSocketConnectionLost):
    """No message came within ``idle_timeout``: the socket was given up
    (closed with 1001, going away) as lost."""


class WebSocketConnectionFailed(DownloadFailedError):
    """Opening the socket again (``reconnect=True``) got an answer other
    than 101: the server refuses it now, and the messages end."""


@dataclass(frozen=True, slots=True)
class WebSocketMessage:
    """One message: text (``data`` is ``str``) or binary (``bytes``)."""

    data: str | bytes

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)

    @property
    def text(self) -> str:
        """The text of a text message (UTF-8 decoding of a binary one)."""
        return self.data if isinstance(self.data, str) else self.data.decode("utf-8")

    @property
    def bytes(self) -> bytes:
        """The bytes of a binary message (UTF-8 of a text one)."""
        return self.data if isinstance(self.data, bytes) else self.data.encode("utf-8")

    def json(self) -> Any:
        return json.loads(self.data)


def websocket_of(response: Response) -> WebSocket:
    """The open WebSocket of a ``ws://`` / ``wss://`` response (status 101)."""
    request = response.request
    socket = request.meta.get(WEBSOCKET_META_KEY) if request is not None else None
    if not isinstance(socket, WebSocket):
        raise ValueError(
            f"{response} has no WebSocket: websocket_of() needs the 101 response of a ws:// or "
            "wss:// request downloaded by TLSClientDownloadHandler (a refused handshake is an "
            "ordinary response with its status)"
        )
    return socket


#: What a failed reopening may raise that the next attempt may overcome
#: (as a browser's page retrying its feed would).
_REOPEN_AGAIN = (
    DownloadFailedError,
    DownloadTimeoutError,
    DownloadConnectionRefusedError,
    CannotResolveHostError,
)
#: A wait between reconnections wakes this often to notice the crawl
#: stopping (as a quiet socket's heartbeat does).
WAIT_STEP_S: Final = 0.5


def _check_options(idle_timeout: float | None, max_reconnects: int | None, retry_s: float) -> None:
    """messages()'s options, refused with the accepted values."""
    if idle_timeout is not None and (
        isinstance(idle_timeout, bool) or not isinstance(idle_timeout, int | float) or not idle_timeout > 0
    ):
        raise ValueError(f"idle_timeout must be a positive number of seconds or None, got {idle_timeout!r}")
    if max_reconnects is not None and (
        isinstance(max_reconnects, bool) or not isinstance(max_reconnects, int) or max_reconnects < 0
    ):
        raise ValueError(f"max_reconnects must be a whole number >= 0 or None, got {max_reconnects!r}")
    if isinstance(retry_s, bool) or not isinstance(retry_s, int | float) or not 0 <= retry_s <= RETRY_MAX_S:
        raise ValueError(f"retry_s must be a number of seconds from 0 to {RETRY_MAX_S}, got {retry_s!r}")


def check_close(code: int, reason: str) -> bytes:
    """The close code and reason as sent, or a ValueError naming the rule."""
    if code != NORMAL_CLOSURE and not 3000 <= code <= 4999:
        raise ValueError(f"WebSocket close code must be 1000 or 3000-4999 (RFC 6455 7.4), got {code}")
    encoded = reason.encode("utf-8")
    if len(encoded) > CLOSE_REASON_MAX:
        raise ValueError(
            f"WebSocket close reason must be at most {CLOSE_REASON_MAX} bytes, got {len(encoded)}"
        )
    return encoded


class WebSocket:
    """An open WebSocket of a spider. One consumer at a time."""

    def __init__(
        self,
        *,
        request: Request,
        socket_id: str,
        calls: CompletionDispatcher,
        pushed: PushedStream,
        cancel_native: Callable[[str], None],
        is_closing: Callable[[], bool],
        on_close: Callable[[], None] | None = None,
        reopen: Callable[[], Awaitable[WebSocket]] | None = None,
    ) -> None:
        self.request = request
        #: The native socket while it is open, in a box the finalizer shares.
        self._native: list[str | None] = [socket_id]
        release = weakref.finalize(self, release_native, self._native, cancel_native)
        release.atexit = False  # the handler's close() has cancelled it by then
        self._calls = calls
        self._pushed = pushed
        self._cancel_native = cancel_native
        self._is_closing = is_closing
        self._on_close = on_close
        self._reopen = reopen
        self._error: BaseException | None = None
        self._closing_sent = False
        #: The peer's close code and reason, once it closed (None before,
        #: or when the connection ended without a close frame).
        self.close_code: int | None = None
        self.close_reason: str | None = None
        #: Messages received so far (over every connection).
        self.messages_received = 0
        #: Times the socket was opened again (``reconnect=True``).
        self.reconnects = 0

    @property
    def closed(self) -> bool:
        """The socket has ended (closed by either side, or lost)."""
        return self._native[0] is None

    def __aiter__(self) -> AsyncIterator[WebSocketMessage]:
        return self.messages()

    async def messages(
        self,
        *,
        idle_timeout: float | None = None,
        reconnect: bool = False,
        on_reconnect: Callable[[WebSocket], object] | None = None,
        max_reconnects: int | None = None,
        retry_s: float = 1.0,
    ) -> AsyncIterator[WebSocketMessage]:
        """The messages as they arrive, until the socket closes. Leaving
        the loop early closes the socket (1000).

        ``idle_timeout``: seconds without a message after which the socket
        is given up as lost (``WebSocketIdleTimeout``; checked every half
        second). ``reconnect=True``: when the connection is lost (idle
        timeout included) or the server closes it with a code of
        ``RECONNECT_CLOSE_CODES``, wait and send the request again (the
        same profile, session, proxy and headers), call ``on_reconnect``
        with this WebSocket (a function or coroutine function, to
        subscribe again) and go on. The wait starts at ``retry_s`` and
        doubles up to ``RETRY_MAX_S``, each randomised between half and
        all of it, and never under ``RETRY_MIN_S``; ``max_reconnects``
        bounds the attempts in a row without a message between them
        (None: no bound), after which the last error is raised. An answer
        other than 101 ends the messages with ``WebSocketConnectionFailed``."""
        _check_options(idle_timeout, max_reconnects, retry_s)
        attempts = 0
        try:
            while True:
                failure: WebSocketConnectionLost | None = None
                try:
                    while (message := await self.receive(idle_timeout=idle_timeout)) is not None:
                        attempts = 0
                        yield message
                except WebSocketConnectionLost as exc:
                    failure = exc
                lost_or_going_away = failure is not None or self.close_code in RECONNECT_CLOSE_CODES
                if not reconnect or not lost_or_going_away or self._closing_sent or self._is_closing():
                    if failure is not None:
                        raise failure
                    return
                while True:
                    if max_reconnects is not None and attempts >= max_reconnects:
                        if failure is not None:
                            raise failure
                        return
                    attempts += 1
                    delay = min(retry_s * 2 ** (attempts - 1), RETRY_MAX_S)
                    wait = max(delay * random.uniform(0.5, 1.0), RETRY_MIN_S)
                    if not await self._wait_unless_closing(wait):
                        return
                    try:
                        await self._reconnect()
                        break
                    except WebSocketConnectionFailed:
                        raise
                    except _REOPEN_AGAIN as exc:
                        # Refused, reset, timed out: the next attempt, later.
                        failure = WebSocketConnectionLost(f"Reconnecting failed: {exc}")
                if on_reconnect is not None:
                    resubscribed = on_reconnect(self)
                    if inspect.isawaitable(resubscribed):
                        await resubscribed
        finally:
            # Reached early only when the consumer stopped (break, error,
            # aclose): send the close frame now, without awaiting.
            self._close_now(NORMAL_CLOSURE, "")

    async def _wait_unless_closing(self, seconds: float) -> bool:
        """Sleep ``seconds``, in steps that notice the crawl stopping;
        False if it is."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._is_closing():
                return False
            await sleep(min(left, WAIT_STEP_S))
        return not self._is_closing()

    async def _reconnect(self) -> None:
        """Open the socket again and take over the new connection."""
        if self._reopen is None:
            raise WebSocketConnectionFailed(f"The WebSocket {self.request.url} cannot be opened again")
        fresh = await self._reopen()
        socket_id, fresh._native[0] = fresh._native[0], None
        if socket_id is None:  # ended before it reached us
            raise WebSocketConnectionLost(f"The WebSocket {self.request.url} closed as it reopened")
        self._pushed, self._native[0] = fresh._pushed, socket_id
        self._on_close, fresh._on_close = fresh._on_close, None
        self._closing_sent = False
        self.close_code = self.close_reason = None
        self.reconnects += 1

    async def receive(self, *, idle_timeout: float | None = None) -> WebSocketMessage | None:
        """The next message; None once the socket has closed. Raises
        ``WebSocketConnectionLost`` if the connection ended without a
        close frame, ``WebSocketIdleTimeout`` (after closing the socket)
        if ``idle_timeout`` seconds passed without a message."""
        deadline = time.monotonic() + idle_timeout if idle_timeout is not None else None
        while True:
            socket_id = self._native[0]
            if socket_id is None:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                return None
            if self._is_closing():
                # The crawl is stopping: a graceful stop waits for every
                # callback, so the socket ends here (going away, 1001).
                self.cancel()
                return None
            if deadline is not None and time.monotonic() >= deadline:
                self.cancel()
                raise WebSocketIdleTimeout(
                    f"No message in {idle_timeout} s (WebSocket {self.request.url}): given up"
                )
            try:
                event = cast("WebSocketEvent | None", self._pushed.next_ready())
                if event is None:
                    event = cast("WebSocketEvent | None", await self._pushed.wait())
            except NativeCancelledError:
                self._ended()
                continue
            except NativeError as exc:
                self._ended()
                self._error = WebSocketConnectionLost(f"{exc.message} (WebSocket {self.request.url})")
                continue
            if event is None:
                continue  # a heartbeat: nothing arrived in time
            if event.closed:
                self.close_code, self.close_reason = event.close_code, event.close_reason
                self._ended()
                continue
            self._pushed.taken(max(len(event.data), 1))
            self.messages_received += 1
            if event.binary:
                return WebSocketMessage(event.data)
            return WebSocketMessage(event.data.decode("utf-8", "replace"))

    async def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message; returns
        when it is written to the connection."""
        socket_id = self._native[0]
        if socket_id is None or self._closing_sent:
            raise DownloadCancelledError(f"The WebSocket {self.request.url} is closed")
        if isinstance(data, str):
            kind, payload = "text", data.encode("utf-8")
        elif isinstance(data, bytes | bytearray | memoryview):
            kind, payload = "binary", bytes(data)
        else:
            raise TypeError(f"WebSocket.send() takes str or bytes, got {type(data).__name__}")
        try:
            await self._calls.send_websocket(socket_id, kind, payload)
        except NativeError as exc:
            if exc.code == "unknown_stream":  # ended meanwhile (closed, cancelled)
                raise DownloadCancelledError(f"The WebSocket {self.request.url} is closed") from exc
            raise WebSocketConnectionLost(f"{exc.message} (WebSocket {self.request.url})") from exc

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason`` and wait for the
        peer's (the library cuts a peer that does not answer within 2 s).
        Messages still arriving meanwhile are dropped."""
        check_close(code, reason)
        self._close_now(code, reason)
        while not self.closed:
            try:
                await self.receive()
            except WebSocketConnectionLost:
                return

    def _close_now(self, code: int, reason: str) -> None:
        """Send a close frame without waiting (idempotent)."""
        socket_id = self._native[0]
        if socket_id is None or self._closing_sent:
            return
        self._closing_sent = True
        self._calls.close_websocket(socket_id, code, reason)

    def cancel(self) -> None:
        """Close now with 1001 (going away) and release the connection
        (idempotent, non-blocking, safe from finalizers)."""
        socket_id, self._native[0] = self._native[0], None
        if socket_id is not None:
            self._cancel_native(socket_id)
            self._pushed.close()
            self._finish()

    def detach(self) -> str | None:
        """End the socket here and return its id, for the caller to cancel
        (the handler's close); None if it had ended."""
        socket_id, self._native[0] = self._native[0], None
        if socket_id is not None:
            self._pushed.close()
            self._finish()
        return socket_id

    def _ended(self) -> None:
        """The library released the socket (its last event came)."""
        self._native[0] = None
        self._finish()

    def _finish(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()
