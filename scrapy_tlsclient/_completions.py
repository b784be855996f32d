"""One thread waits for every native call in flight.

Calls are started with the library's non-blocking ``submit`` from the
event-loop thread; a single poller thread blocks in ``pollCompletions``,
decodes each batch off the event loop, and hands it back with one wake-up
per batch. Compared with a thread blocked per request, this removes the
thread switches that dominated CPU at 128 requests in flight
(docs/benchmarks.rst).

Body bytes (readStream chunks, the prefetched start of a body) come as
native buffers, not base64 inside the JSON, when the library can: the
poller takes each buffer while it decodes the batch, so a result whose
waiter went away still frees its buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ._errors import NativeCancelledError, NativeError

if TYPE_CHECKING:
    from ._envelopes import NativeResponse, StreamRead
    from ._native import NativeLibrary

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["CompletionDispatcher"]

#: How long one poll waits: also how soon the poller notices stop().
POLL_TIMEOUT_MS = 250
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

    async def wait(self) -> Any:
        if self._future is not None:
            return await self._future
        assert self._deferred is not None
        return await self._deferred


class CompletionDispatcher:
    """Runs native calls without a thread per call."""

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
        self._loop = asyncio.get_event_loop() if is_asyncio_available() else None
        self._waiters: dict[str, _Waiter] = {}
        self._tickets = (f"c{n}" for n in itertools.count())
        self._queue = f"scrapy-{secrets.token_hex(6)}"
        self._stopping = threading.Event()
        if self._loop is not None:
            self._call_soon: Callable[..., Any] = self._loop.call_soon_threadsafe
        else:
            from twisted.internet import reactor

            self._call_soon = reactor.callFromThread
        self._thread = threading.Thread(
            target=self._poll_forever, name="scrapy_tlsclient-poller", daemon=True
        )
        self._thread.start()

    async def request_stream(self, request_input: dict[str, Any]) -> NativeResponse:
        if self._binary:
            request_input = {**request_input, "binaryBody": True}
        result: NativeResponse = await self._run("requestStream", request_input)
        return result

    async def read_stream(
        self, stream_id: str, timeout_ms: int, max_bytes: int, output_path: str | None = None
    ) -> StreamRead:
        payload = self._library.read_stream_input(stream_id, timeout_ms, max_bytes, self._binary, output_path)
        result: StreamRead = await self._run("readStream", payload)
        return result

    async def _run(self, op: str, payload: dict[str, Any]) -> Any:
        if self._stopping.is_set():
            # The queue is (being) dropped: nobody would poll the result.
            raise NativeCancelledError(f"native {op} not started: the download handler is closed", CANCELLED)
        ticket = next(self._tickets)
        waiter = _Waiter(self._loop)
        self._waiters[ticket] = waiter
        self._library.submit(self._queue, op, ticket, payload)
        return await waiter.wait()

    @property
    def in_flight(self) -> int:
        return len(self._waiters)

    def stop(self) -> None:
        """Stop polling (returns within one poll); idempotent."""
        self._stopping.set()

    # -- poller thread ------------------------------------------------------

    def _poll_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._library.poll_completions(self._queue, POLL_TIMEOUT_MS, POLL_BATCH)
            except Exception:  # pragma: no cover - a broken library; keep the process alive
                logger.exception("scrapy_tlsclient: polling native completions failed")
                self._stopping.wait(1)
                continue
            if batch:
                decoded = [self._decode(completion) for completion in batch]
                self._call_soon(self._settle, decoded)
        self._library.drop_queue(self._queue)
        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits
            self._call_soon(self._abandon)

    def _abandon(self) -> None:
        # Calls still running when the queue was dropped complete into
        # nothing (the library discards them): their waiters learn it here.
        waiters, self._waiters = self._waiters, {}
        message = "the download handler closed during the call"
        for waiter in waiters.values():
            waiter.settle(None, NativeCancelledError(message, CANCELLED))

    def _settle(self, decoded: list[tuple[str, Any, BaseException | None]]) -> None:
        for ticket, value, error in decoded:
            waiter = self._waiters.pop(ticket, None)
            if waiter is not None:
                waiter.settle(value, error)

    def _decode(self, completion: dict[str, Any]) -> tuple[str, Any, BaseException | None]:
        # Runs for every completion, waited for or not: decoding takes (and
        # so frees) the native buffer a result names.
        decoder: Callable[[dict[str, Any]], Any] = self._decoders.get(
            completion.get("op", ""), self._library.decode_response
        )
        try:
            return completion["ticket"], decoder(completion["result"]), None
        except NativeError as error:
            return completion["ticket"], None, error
