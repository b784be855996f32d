"""Native calls in flight, completed on the event-loop thread.

Calls go to the library and their results come back over a socket pair,
the library's completion socket (docs/abi.rst, "Completion socket"): the
event loop writes submissions to it and watches it like any socket, and
when it is readable reads the finished calls and settles their waiters,
all on its own thread. No thread waits for results, so none competes with
the event loop for the GIL; and the event-loop thread makes no call into
Go for a page of up to 64 KiB. Each such call takes one of Go's Ps and
leaves it "in a system call" for Go's sysmon to retake, and the pipe and
poll this replaced made several per page on the thread that limits a
crawl: the socket cut the CPU per page by 6-11 % (docs/benchmarks.rst).

Body bytes (readStream chunks, the prefetched start of a body) come in
the frame after their result, not as base64 inside the JSON; a body
longer than ``FRAME_BODY_MAX`` stays in the library, and decoding its
result takes it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._event_loop import Waiter, call_later, call_soon, watch_readable
from .binding.envelopes import raise_for_error
from .binding.errors import NativeCancelledError, NativeLibraryError
from .binding.library import FRAME_BODY_MAX
from .binding.socket_frames import CompletionFrameReader, FrameBody, submission_frames

if TYPE_CHECKING:
    from .binding.envelopes import NativeResponse, RequestInput, StreamRead
    from .binding.library import NativeLibrary
    from .binding.memory import BodyMemory

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["CompletionDispatcher", "PushedStream"]

#: The most read from the socket at once; a fuller socket stays readable.
READ_SIZE = 256 * 1024
CANCELLED = NativeCancelledError.code
#: The credit a pushed stream starts with: what the library may push before
#: the consumer took any of it. Beside the library's own buffer of the
#: stream (1 MiB), this bounds a slow spider's backlog.
PUSH_WINDOW: Final = 1024 * 1024
#: Credit is granted back in steps of at least this many bytes consumed,
#: so that a stream of small events costs a grant per many events.
PUSH_GRANT_STEP: Final = PUSH_WINDOW // 4
#: A pushed piece's most bytes: one frame, whose body the socket carries.
PUSH_PIECE_MAX: Final = FRAME_BODY_MAX
#: Memory lent to reads that were never answered (the completion socket
#: failed): kept, since the library may still write to it.
_ABANDONED_MEMORY: list[object] = []


class CompletionDispatcher:
    """Runs native calls without a thread per call, or any waiting thread."""

    def __init__(self, library: NativeLibrary) -> None:
        from scrapy.utils.asyncio import is_asyncio_available

        self._library = library
        self._binary = library.has_binary
        self._decoders: dict[str, Callable[[dict[str, Any], FrameBody], Any]] = {
            "readStream": library.decode_stream_read,
            "pushStream": library.decode_stream_read,
            "pushWebSocket": library.decode_websocket_event,
            # Answered by success, or an error envelope.
            "sendWebSocket": lambda envelope, _body: raise_for_error(envelope),
            "closeWebSocket": lambda envelope, _body: raise_for_error(envelope),
        }
        loop = asyncio.get_event_loop() if is_asyncio_available() else None
        self._loop = loop
        self._waiters: dict[str, Waiter] = {}
        self._tickets = (f"c{n}" for n in itertools.count())
        self._queue = f"scrapy-{secrets.token_hex(6)}"
        self._stopped = False
        #: Submissions (document, request body) of this pass of the event
        #: loop, sent by _flush.
        self._outbox: list[tuple[str, bytes]] = []
        #: Pushed streams by ticket, until their last piece.
        self._pushed: dict[str, PushedStream] = {}
        #: Memory lent to the library by ticket, until the call's answer.
        self._lent: dict[str, object] = {}
        self._heartbeat_armed = False
        self._call_soon = call_soon(loop)
        # Ours stays blocking for sendall (the library's reader drains it
        # as fast as it submits); reads pass MSG_DONTWAIT.
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The library takes a duplicate of its end.
            library.attach_socket(self._queue, theirs.fileno(), FRAME_BODY_MAX)
        except BaseException:
            self._socket.close()
            raise
        finally:
            theirs.close()
        self._frames = CompletionFrameReader()
        self._read_buffer = bytearray(READ_SIZE)
        self._unwatch = watch_readable(self._socket.fileno(), self._on_readable, loop)

    async def request_stream(self, request_input: RequestInput, body: bytes = b"") -> NativeResponse:
        """Start a request and wait for its headers; ``body`` is the request
        body, sent as raw bytes beside the input."""
        payload: Mapping[str, Any] = request_input
        if self._binary:
            # Bodies come as buffers, in their frames: no base64 either way.
            payload = {**request_input, "binaryBody": True}
        result: NativeResponse = await self._submit("requestStream", payload, body)
        return result

    async def read_stream(
        self,
        stream_id: str,
        timeout_ms: int,
        max_bytes: int,
        output_path: str | None = None,
        into: BodyMemory | None = None,
    ) -> StreamRead:
        """The next piece of a body; with ``into`` the library copies it into
        that memory's room and the answer counts it (``written``). The
        memory stays referenced here until the answer arrives, even if the
        caller stops waiting: the library may write to it until then."""
        payload = self._library.read_stream_input(
            stream_id,
            timeout_ms,
            max_bytes,
            self._binary,
            output_path,
            binary_min=0,
            into=into,
        )
        result: StreamRead = await self._submit("readStream", payload, lent=into)
        return result

    def push_stream(self, stream_id: str, heartbeat_s: float) -> PushedStream:
        """Have the library push ``stream_id``'s body here as it arrives
        (docs/abi.rst, "Pushed streams"). Waiting for a piece returns
        ``None`` at least every ``heartbeat_s``, so that a consumer notices
        a closing crawl while its stream is quiet."""
        pushed = PushedStream(self, stream_id, heartbeat_s)
        if self._stopped:
            message = "native pushStream not started: the download handler is closed"
            pushed.deliver(None, NativeCancelledError(message, CANCELLED))
            return pushed
        ticket = next(self._tickets)
        self._pushed[ticket] = pushed
        payload = {"streamId": stream_id, "window": PUSH_WINDOW, "maxBytes": PUSH_PIECE_MAX}
        self._send(self._library.submit_document(self._queue, "pushStream", ticket, payload))
        return pushed

    async def open_websocket(self, request_input: RequestInput) -> NativeResponse:
        """Open a WebSocket; the handshake's response (``stream_id`` names
        the socket after a 101). docs/abi.rst, "WebSockets"."""
        result: NativeResponse = await self._submit("openWebSocket", request_input)
        return result

    def push_websocket(self, socket_id: str, heartbeat_s: float) -> PushedStream:
        """Have the library push ``socket_id``'s messages here, with the
        credit of pushed streams; waiting returns None every ``heartbeat_s``."""
        pushed = PushedStream(self, socket_id, heartbeat_s)
        if self._stopped:
            message = "native pushWebSocket not started: the download handler is closed"
            pushed.deliver(None, NativeCancelledError(message, CANCELLED))
            return pushed
        ticket = next(self._tickets)
        self._pushed[ticket] = pushed
        payload = {"webSocketId": socket_id, "window": PUSH_WINDOW}
        self._send(self._library.submit_document(self._queue, "pushWebSocket", ticket, payload))
        return pushed

    async def send_websocket(self, socket_id: str, kind: str, data: bytes) -> None:
        """Send one message (``kind`` text, UTF-8, or binary), its bytes
        raw beside the input; returns when the library has written it to
        the connection."""
        await self._submit("sendWebSocket", {"webSocketId": socket_id, "type": kind}, data)

    def close_websocket(self, socket_id: str, code: int, reason: str) -> None:
        """Send a close frame; the peer's answer ends the pushed messages."""
        if not self._stopped:
            payload = {"webSocketId": socket_id, "code": code, "reason": reason}
            self._send(self._library.submit_document(self._queue, "closeWebSocket", "", payload))

    def grant(self, stream_id: str, size: int) -> None:
        """Let the library push ``size`` bytes more of ``stream_id``."""
        if not self._stopped:
            payload = {"streamId": stream_id, "bytes": size}
            self._send(self._library.submit_document(self._queue, "streamCredit", "", payload))

    def _arm_heartbeat(self, delay_s: float) -> None:
        if not self._heartbeat_armed and not self._stopped:
            self._heartbeat_armed = True
            call_later(delay_s, lambda: self._heartbeat(delay_s))

    def _heartbeat(self, delay_s: float) -> None:
        """Wake the consumers waiting on quiet pushed streams (with None)."""
        self._heartbeat_armed = False
        waiting = False
        for pushed in self._pushed.values():
            waiting = pushed.beat() or waiting
        if waiting:
            self._arm_heartbeat(delay_s)

    def _submit(
        self, op: str, payload: Mapping[str, Any] | str, body: bytes = b"", lent: object = None
    ) -> Awaitable[Any]:
        waiter = Waiter(self._loop)
        if self._stopped:
            # The queue is dropped: nobody would take the result.
            message = f"native {op} not started: the download handler is closed"
            waiter.settle(None, NativeCancelledError(message, CANCELLED))
            return waiter.awaitable
        ticket = next(self._tickets)
        self._waiters[ticket] = waiter
        if lent is not None:
            self._lent[ticket] = lent
        self._send(self._library.submit_document(self._queue, op, ticket, payload), body)
        return waiter.awaitable

    def _send(self, document: str, body: bytes = b"") -> None:
        """Send ``document`` (and the request body it sends) with the others
        of this pass of the event loop."""
        self._outbox.append((document, body))
        if len(self._outbox) == 1:
            self._call_soon(self._flush)

    def _flush(self) -> None:
        """Send what this pass of the event loop submitted, with one write:
        the reads a batch of results starts go together."""
        documents, self._outbox = self._outbox, []
        if not documents or self._stopped:
            return
        self._library.check_not_forked()
        try:
            for piece in submission_frames(documents):
                self._socket.sendall(piece)
        except OSError as error:  # the library closed its end: not ours to survive
            self._fail_all(NativeLibraryError(f"the tls-client completion socket failed: {error}"))

    @property
    def in_flight(self) -> int:
        return len(self._waiters) + len(self._pushed)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Stop taking results (idempotent): the library discards the results
        of calls still running, and their waiters end with
        NativeCancelledError."""
        if self._stopped:
            return
        self._outbox.clear()  # their waiters are ended below
        try:
            # The library closes its end of the socket and starts nothing
            # sent to it from now on.
            self._library.drop_queue(self._queue)
        finally:
            self._fail_all(NativeCancelledError("the download handler closed during the call", CANCELLED))

    def _fail_all(self, error: BaseException) -> None:
        self._stopped = True
        self._unwatch()
        self._socket.close()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.settle(None, error)
        pushed, self._pushed = self._pushed, {}
        for stream in pushed.values():
            stream.deliver(None, error)
        # No answer will come to say the library is done with lent memory:
        # it stays allocated for the life of the process rather than be
        # reused under a write.
        _ABANDONED_MEMORY.extend(self._lent.values())
        self._lent.clear()

    # -- on the event-loop thread, when the socket is readable --------------

    def _on_readable(self) -> None:
        if self._stopped or self._library.forked:
            return
        buffer = self._read_buffer
        try:
            count = self._socket.recv_into(buffer, READ_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:  # pragma: no cover - a broken socket; fail what waits
            self._fail_all(NativeLibraryError(f"the tls-client completion socket failed: {error}"))
            return
        if count == 0:
            # Only a drop closes the library's end, and stop() unwatches
            # right after its drop: the library went away under us.
            self._fail_all(NativeLibraryError("the tls-client library closed the completion socket"))
            return
        pushed = self._pushed
        lent = self._lent
        for encoded, body in self._frames.feed(bytes(memoryview(buffer)[:count])):
            ticket, value, failure = self._decode(encoded, body)
            if lent:
                lent.pop(ticket, None)  # answered: the library is done with it
            stream = pushed.get(ticket)
            if stream is not None:
                if failure is not None or value.eof:
                    del pushed[ticket]
                stream.deliver(value, failure)
                continue
            waiter = self._waiters.pop(ticket, None)
            if waiter is not None:
                waiter.settle(value, failure)

    def _decode(self, encoded: bytes, body: FrameBody) -> tuple[str, Any, BaseException | None]:
        """A completion frame as its ticket and result (or error). Runs for
        every frame, waited for or not: a buffer left to take is taken (and
        so freed) here."""
        ticket = ""
        try:
            completion = json.loads(encoded)
            ticket = str(completion.get("ticket", ""))
            decode: Callable[[dict[str, Any], FrameBody], Any] = self._decoders.get(
                completion.get("op", ""), self._library.decode_response
            )
            return ticket, decode(completion["result"], body), None
        except Exception as error:  # NativeError, or a malformed result: the waiter gets it
            return ticket, None, error


class PushedStream:
    """The pieces the library pushes of one stream, in order, as they
    arrive, until its end or its error; and the credit given back as the
    consumer takes them. Holds at most the credit granted (PUSH_WINDOW,
    plus one piece) however slowly the consumer takes."""

    __slots__ = ("_dispatcher", "_heartbeat_s", "_pieces", "_stream_id", "_unacked", "_waiter")

    def __init__(self, dispatcher: CompletionDispatcher, stream_id: str, heartbeat_s: float) -> None:
        self._dispatcher = dispatcher
        self._stream_id = stream_id
        self._heartbeat_s = heartbeat_s
        self._pieces: deque[tuple[StreamRead | None, BaseException | None]] = deque()
        self._waiter: Waiter | None = None
        self._unacked = 0

    def next_ready(self) -> StreamRead | None:
        """The next piece if one is here (raising its error), else None."""
        if not self._pieces:
            return None
        read, error = self._pieces.popleft()
        if error is not None:
            raise error
        return read

    def wait(self) -> Awaitable[StreamRead | None]:
        """The next piece, or None after a heartbeat with nothing pushed."""
        waiter = self._waiter = Waiter(self._dispatcher._loop)
        self._dispatcher._arm_heartbeat(self._heartbeat_s)
        return waiter.awaitable

    def taken(self, size: int) -> None:
        """The consumer took ``size`` bytes: grant them back, in steps."""
        self._unacked += size
        if self._unacked >= PUSH_GRANT_STEP:
            self._dispatcher.grant(self._stream_id, self._unacked)
            self._unacked = 0

    def deliver(self, read: StreamRead | None, error: BaseException | None) -> None:
        # A consumer waits only on an empty stream: the piece is its.
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.settle(read, error)
        else:
            self._pieces.append((read, error))

    def close(self) -> None:
        """The consumer is gone (it cancelled the stream): drop what came."""
        self._pieces.clear()
        self._waiter = None

    def beat(self) -> bool:
        """Wake a waiting consumer with None; whether one was waiting."""
        waiter, self._waiter = self._waiter, None
        if waiter is None:
            return False
        waiter.settle(None, None)
        return True
