"""Native calls in flight, completed on the event-loop thread.

Calls are started with the library's non-blocking ``submit`` from the
event-loop thread. The library writes a byte to a pipe whenever the
dispatcher's completion queue goes from empty to not empty; the event loop
watches the pipe's read end like any socket and, when it is readable,
takes the finished calls with a non-blocking ``pollCompletions`` and
settles their waiters, all on its own thread. No thread waits for results,
so no thread competes with the event loop for the GIL: a poller thread
that decoded each batch used to hold events back by milliseconds at
10,000 events/s (docs/benchmarks.rst, "Streaming").

Body bytes (readStream chunks, the prefetched start of a body) come as
native buffers, not base64 inside the JSON, when the library can:
decoding a completion takes its buffer, so a result whose waiter went
away still frees its buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReadDescriptor
from zope.interface import implementer  # type: ignore[import-untyped]

from ._errors import NativeCancelledError
from ._native import PREFETCH_INLINE_MAX

if TYPE_CHECKING:
    from ._envelopes import NativeResponse, RequestInput, StreamRead
    from ._native import NativeLibrary

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["CompletionDispatcher"]

#: Completions taken per poll; a fuller queue wakes the loop again.
POLL_BATCH = 512
CANCELLED = NativeCancelledError.code


class _Waiter:
    """A result slot the event loop can await: an asyncio future when an
    asyncio loop drives Scrapy (asyncio reactor or reactorless), else a
    Deferred for the classic reactor."""

    __slots__ = ("_deferred", "_future")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if loop is not None:
            self._future: asyncio.Future[Any] | None = loop.create_future()
            self._deferred: Deferred[Any] | None = None
        else:
            self._future = None
            self._deferred = Deferred()

    def settle(self, value: Any, error: BaseException | None) -> None:
        if self._future is not None:
            if self._future.done():  # cancelled meanwhile
                return
            if error is not None:
                self._future.set_exception(error)
            else:
                self._future.set_result(value)
            return
        assert self._deferred is not None
        if self._deferred.called:  # cancelled meanwhile
            return
        if error is not None:
            self._deferred.errback(error)
        else:
            self._deferred.callback(value)

    @property
    def awaitable(self) -> Awaitable[Any]:
        if self._future is not None:
            return self._future
        assert self._deferred is not None
        return self._deferred


class CompletionDispatcher:
    """Runs native calls without a thread per call, or any waiting thread."""

    def __init__(self, library: NativeLibrary) -> None:
        from scrapy.utils.asyncio import is_asyncio_available

        self._library = library
        self._binary = library.has_binary
        self._decoders: dict[str, Callable[[dict[str, Any]], Any]] = {
            "requestStream": library.decode_response,
            "request": library.decode_response,
            "readStreamAll": library.decode_response,
            "readStream": library.decode_stream_read,
        }
        loop = asyncio.get_event_loop() if is_asyncio_available() else None
        self._loop = loop
        self._waiters: dict[str, _Waiter] = {}
        self._tickets = (f"c{n}" for n in itertools.count())
        self._queue = f"scrapy-{secrets.token_hex(6)}"
        self._stopped = False
        #: Submissions of this pass of the event loop, sent by _flush.
        self._outbox: list[str] = []
        self._call_soon = _soon(loop)
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._unwatch = _watch(self._wake_read, self._on_wake, loop)
        library.watch_queue(self._queue, self._wake_write)

    async def request_stream(self, request_input: RequestInput) -> NativeResponse:
        """Start a request and wait for its headers. ``request_input`` is the
        caller's to give away: the binary-body options are added to it."""
        if self._binary:
            request_input["binaryBody"] = True
            request_input["binaryMin"] = PREFETCH_INLINE_MAX
        result: NativeResponse = await self._submit("requestStream", request_input)
        return result

    async def read_stream(
        self, stream_id: str, timeout_ms: int, max_bytes: int, output_path: str | None = None
    ) -> StreamRead:
        result: StreamRead = await self.read_stream_soon(stream_id, timeout_ms, max_bytes, output_path)
        return result

    def read_stream_soon(
        self, stream_id: str, timeout_ms: int, max_bytes: int, output_path: str | None = None
    ) -> Awaitable[StreamRead]:
        """Start a read (sent with the other submissions of this pass of the
        event loop) and return its result to await later, with no task
        around it: a live stream's read ahead."""
        payload = self._library.read_stream_input(stream_id, timeout_ms, max_bytes, self._binary, output_path)
        return self._submit("readStream", payload)

    def stream_reader(self, timeout_ms: int, max_bytes: int) -> Callable[[str], Awaitable[StreamRead]]:
        """``read_stream_soon`` for one live stream's reads, which differ only
        in their ticket: the input is encoded once, not once per event."""
        encoded: dict[str, str] = {}

        def read(stream_id: str) -> Awaitable[StreamRead]:
            payload = encoded.get(stream_id)
            if payload is None:
                encoded.clear()  # one stream per reader; a new id replaces it
                raw = self._library.read_stream_input(stream_id, timeout_ms, max_bytes, self._binary)
                payload = encoded[stream_id] = json.dumps(raw, separators=(",", ":"))
            return self._submit("readStream", payload)

        return read

    def _submit(self, op: str, payload: Mapping[str, Any] | str) -> Awaitable[Any]:
        waiter = _Waiter(self._loop)
        if self._stopped:
            # The queue is dropped: nobody would take the result.
            message = f"native {op} not started: the download handler is closed"
            waiter.settle(None, NativeCancelledError(message, CANCELLED))
            return waiter.awaitable
        ticket = next(self._tickets)
        self._waiters[ticket] = waiter
        self._outbox.append(self._library.submit_document(self._queue, op, ticket, payload))
        if len(self._outbox) == 1:
            self._call_soon(self._flush)
        return waiter.awaitable

    def _flush(self) -> None:
        """Send what this pass of the event loop submitted, with one native
        call: the reads a batch of results starts go together."""
        documents, self._outbox = self._outbox, []
        if documents and not self._stopped:
            self._library.submit_documents(documents)

    @property
    def in_flight(self) -> int:
        return len(self._waiters)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Stop taking results (idempotent): the library discards the results
        of calls still running, and their waiters end with
        NativeCancelledError."""
        if self._stopped:
            return
        self._stopped = True
        self._outbox.clear()  # their waiters are ended below
        self._unwatch()
        # Dropped before the pipe is closed: the library writes to it only
        # while the queue exists, so it never writes to a reused descriptor.
        self._library.drop_queue(self._queue)
        os.close(self._wake_read)
        os.close(self._wake_write)
        waiters, self._waiters = self._waiters, {}
        message = "the download handler closed during the call"
        for waiter in waiters.values():
            waiter.settle(None, NativeCancelledError(message, CANCELLED))

    # -- on the event-loop thread, when the pipe is readable -----------------

    def _on_wake(self) -> None:
        if self._stopped:
            return
        # Emptied first: a completion pushed from now on writes a new byte.
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_read, 4096)
        # A full batch leaves the rest queued, and the library wakes us again.
        try:
            batch = self._library.poll_completions(self._queue, 0, POLL_BATCH)
        except Exception:  # pragma: no cover - a broken library; keep the crawl alive
            logger.exception("scrapy_tlsclient: taking native completions failed")
            return
        for completion in batch:
            ticket, value, error = self._decode(completion)
            waiter = self._waiters.pop(ticket, None)
            if waiter is not None:
                waiter.settle(value, error)

    def _decode(self, completion: dict[str, Any]) -> tuple[str, Any, BaseException | None]:
        # Runs for every completion, waited for or not: decoding takes (and
        # so frees) the native buffer a result names.
        decoder: Callable[[dict[str, Any]], Any] = self._decoders.get(
            completion.get("op", ""), self._library.decode_response
        )
        ticket = str(completion.get("ticket", ""))
        try:
            return ticket, decoder(completion["result"]), None
        except Exception as error:  # NativeError, or a malformed result: the waiter gets it
            return ticket, None, error


def _soon(loop: asyncio.AbstractEventLoop | None) -> Callable[[Callable[[], None]], object]:
    """Run a function on the event-loop thread, after the current pass."""
    if loop is not None:
        return loop.call_soon
    from twisted.internet import reactor

    later: Any = reactor
    return lambda function: later.callLater(0, function)


def _watch(
    fd: int, on_readable: Callable[[], None], loop: asyncio.AbstractEventLoop | None
) -> Callable[[], object]:
    """Call ``on_readable`` on the event-loop thread while ``fd`` is
    readable; returns the function that stops watching."""
    if loop is not None:
        loop.add_reader(fd, on_readable)
        return lambda: loop.remove_reader(fd)
    from twisted.internet import reactor

    fd_set: Any = reactor  # IReactorFDSet, which zope's interfaces do not type
    reader = _ReadableDescriptor(fd, on_readable)
    fd_set.addReader(reader)
    return lambda: fd_set.removeReader(reader)


@implementer(IReadDescriptor)
class _ReadableDescriptor:
    """The wake-up pipe for the classic reactor (IReadDescriptor; the
    method names are Twisted's)."""

    def __init__(self, fd: int, on_readable: Callable[[], None]) -> None:
        self._fd = fd
        self._on_readable = on_readable

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> None:
        self._on_readable()

    def connectionLost(self, reason: object) -> None:
        pass

    def logPrefix(self) -> str:
        return "scrapy_tlsclient-completions"
