"""The spider-facing streaming API.

A request with ``meta={"tls_client_stream": True}`` reaches its callback as
soon as the response headers arrive, with an empty ``response.body``; the
callback reads the body as it arrives::

    async def parse(self, response):
        async with stream_of(response) as stream:
            async for event in stream.sse():
                yield {"id": event.id, "data": event.data}

Iterators: raw chunks (``async for chunk in stream``), ``lines()``,
``ndjson()``, ``sse()``. Leaving the ``async with`` block, breaking out of
an iterator, an exception in the callback or the crawl closing cancels the
native stream at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.exceptions import (
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)

from ._event_formats import LineParser, NDJSONParser, ServerSentEvent, SSEParser
from ._event_loop import sleep

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator
    from types import TracebackType
    from typing import Self

    from scrapy import Request
    from scrapy.http import Response

    from ._live import LiveBody

__all__ = [
    "ResponseStream",
    "SSEConnectionFailed",
    "ServerSentEvent",
    "TLSClientStreamMiddleware",
    "stream_of",
]

#: Default bound of one line / event: a server cannot make memory unbounded.
MAX_LINE_BYTES = 1024 * 1024

#: A streamed response's ResponseStream lives in its request's meta (so in
#: ``response.meta`` too). Not in a WeakKeyDictionary keyed by the request:
#: the stream holds its request (messages, signals, SSE reconnection), and
#: an entry whose value holds its own key is never dropped (the soak
#: benchmark found every stream kept for the life of the process). In meta,
#: request -> stream -> request is an ordinary cycle the collector frees.
STREAM_META_KEY = "_tls_client_stream"


def _registered(request: Request | None) -> ResponseStream | None:
    stream = request.meta.get(STREAM_META_KEY) if request is not None else None
    return stream if isinstance(stream, ResponseStream) else None


def stream_of(response: Response) -> ResponseStream:
    """The body stream of a response downloaded with ``tls_client_stream``."""
    stream = _registered(response.request)
    if stream is None:
        raise ValueError(
            f"{response} has no body stream: stream_of() needs a request with "
            "meta={'tls_client_stream': True} downloaded by TLSClientDownloadHandler"
        )
    return stream


def attach(request: Request, body: LiveBody) -> ResponseStream:
    """Register the stream of ``request``'s response (the handler's side)."""
    stream = ResponseStream(body)
    request.meta[STREAM_META_KEY] = stream
    return stream


def live_body_of(request: Request) -> LiveBody:
    """The body a request's stream reads now (the handler's side)."""
    stream = _registered(request)
    assert stream is not None, "live_body_of() of a request with no stream"
    return stream._current[0]


class ResponseStream:
    """A response body that is still arriving. One consumer at a time."""

    def __init__(self, body: LiveBody) -> None:
        # A box, so that SSE reconnection can swap the body. A body
        # collected unclosed cancels its native stream itself.
        self._current = [body]
        self._cancelled = False

    @property
    def _body(self) -> LiveBody:
        return self._current[0]

    @property
    def closed(self) -> bool:
        """The body has ended, failed or been cancelled."""
        return self._body.closed

    @property
    def stopped(self) -> str | None:
        """Why the body ended early: ``"cancelled"``, ``"stopped"``
        (``StopDownload``), ``"closing"`` (the crawl is stopping), or None."""
        return self._body.stopped

    @property
    def bytes_received(self) -> int:
        """Body bytes received so far, as sent (before decoding)."""
        return self._body.bytes_received

    async def read(self) -> bytes:
        """The next piece of the body as it arrived (decoded if the server
        compressed it); ``b""`` at the end. Raises the download's Scrapy
        exception if the transfer fails (``ResponseDataLossError`` when the
        server cuts the stream)."""
        return await self._body.read()

    def cancel(self) -> None:
        """Stop reading and release the connection's stream now."""
        self._cancelled = True
        self._body.cancel("cancelled")

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as pieces of bytes, as they arrive."""
        try:
            while chunk := await self._body.read():
                yield chunk
        finally:
            # Reached early only when the consumer stopped (break, error,
            # aclose): the rest of the body is not wanted.
            self._body.cancel("cancelled")

    async def lines(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> AsyncIterator[str]:
        """The body as text lines (UTF-8; CRLF, LF or CR ends a line)."""
        parser = LineParser(max_line_bytes=max_line_bytes, limit_name="max_line_bytes")
        async for chunk in self._parsed(parser):
            yield chunk

    async def ndjson(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> AsyncIterator[Any]:
        """The body as newline-delimited JSON values, one per line."""
        parser = NDJSONParser(max_line_bytes=max_line_bytes, limit_name="max_line_bytes")
        async for value in self._parsed(parser):
            yield value

    async def sse(
        self,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        dispatch_incomplete_at_eof: bool = False,
        reconnect: bool = False,
        max_reconnects: int | None = None,
        default_retry_ms: int = 3000,
    ) -> AsyncIterator[ServerSentEvent]:
        """The body as Server-Sent Events, parsed per the WHATWG spec
        (``event``, multi-line ``data``, ``id``, ``retry``; comments
        skipped). An event not ended by a blank line when the stream ends
        is dropped, as browsers do, unless ``dispatch_incomplete_at_eof``.

        ``reconnect=True`` does what ``EventSource`` does when the stream
        ends or breaks: wait the server's ``retry`` time (else
        ``default_retry_ms``), send the request again with
        ``Last-Event-ID``, and go on, at most ``max_reconnects`` times (no
        limit: ``None``). A new response that is not ``200`` with
        ``Content-Type: text/event-stream`` ends it with
        ``SSEConnectionFailed``, as it would end an ``EventSource``."""
        reconnects = 0
        last_event_id, retry = "", None
        while True:
            parser = SSEParser(
                max_line_bytes=max_line_bytes,
                limit_name="max_line_bytes",
                dispatch_incomplete_at_eof=dispatch_incomplete_at_eof,
            )
            parser.resume(last_event_id, retry)
            failure: Exception | None = None
            try:
                async for event in self._parsed(parser):
                    yield event
            except (ResponseDataLossError, DownloadFailedError) as exc:
                failure = exc
            last_event_id, retry = parser.last_event_id, parser.retry
            done = self._cancelled or self._body.stopped == "closing"
            if not reconnect or done or (max_reconnects is not None and reconnects >= max_reconnects):
                if failure is not None:
                    raise failure
                return
            reconnects += 1
            await sleep((retry if retry is not None else default_retry_ms) / 1000)
            await self._reconnect(last_event_id)

    async def _reconnect(self, last_event_id: str) -> None:
        reopen = self._body.reopen
        if reopen is None or self._cancelled:
            raise SSEConnectionFailed("this stream cannot be reopened")
        try:
            body = await reopen(last_event_id)
        except (
            ResponseDataLossError,
            DownloadFailedError,
            DownloadTimeoutError,
            DownloadConnectionRefusedError,
        ):
            return  # the next round reads nothing and tries again
        if self._cancelled:
            body.cancel("cancelled")
            return
        self._current[0] = body
        if body.status != 200 or not body.content_type.lower().startswith("text/event-stream"):
            body.cancel("cancelled")
            raise SSEConnectionFailed(
                f"Reconnecting to {body.request.url} gave status {body.status} and Content-Type "
                f"{body.content_type!r}, not 200 text/event-stream: the event stream ends"
            )

    async def _parsed(self, parser: Any) -> AsyncIterator[Any]:
        try:
            while chunk := await self._body.read():
                for item in parser.feed(chunk):
                    yield item
            for item in parser.close():
                yield item
        finally:
            self._body.cancel("cancelled")


class SSEConnectionFailed(Exception):
    """Reconnecting an event stream got a response that is not an event
    stream (as EventSource, the stream then ends for good)."""


class TLSClientStreamMiddleware:
    """Spider middleware: when a callback of a streamed response is done
    (its output exhausted, or it raised), the body is cancelled at once,
    whether or not the callback closed the stream itself. Without it the
    stream is still released, but only when Python collects it.

    ``SPIDER_MIDDLEWARES = {"scrapy_tlsclient.TLSClientStreamMiddleware": 1000}``
    """

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterable[Any]:
        stream = _stream_or_none(response)
        if stream is None:
            return result
        return _cancel_after(result, stream)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        stream = _stream_or_none(response)
        try:
            async for item in result:
                yield item
        finally:
            if stream is not None:
                stream.cancel()

    def process_spider_exception(self, response: Response, exception: Exception) -> None:
        stream = _stream_or_none(response)
        if stream is not None:
            stream.cancel()


def _stream_or_none(response: Response) -> ResponseStream | None:
    return _registered(response.request)


def _cancel_after(result: Iterable[Any], stream: ResponseStream) -> Iterator[Any]:
    try:
        yield from result
    finally:
        stream.cancel()
