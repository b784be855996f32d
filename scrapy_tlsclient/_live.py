"""The body of a streamed response, read on demand after the spider has it.

A request with the ``tls_client_stream`` meta key gets its response as soon
as the headers arrive, and the library pushes its body to the handler's
completion socket as it arrives (``PushedStream``), within the credit the
body grants back as the spider takes pieces: a spider that consumes slowly
slows the server (TCP or HTTP/2 flow control) and nothing is dropped.
Every exit (end of body, error, ``cancel()``, the handler closing, the
object being collected) releases the native stream exactly once.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError, StopDownload

from ._scrapy_errors import cuts_body_short, scrapy_error_for
from .binding.errors import NativeError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scrapy import Request

    from ._completions import PushedStream
    from ._decoding import Decoder

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["DECODED_PIECE_MAX", "LiveBody", "release_native"]

#: The most one read() returns of a body the stream decodes: a compressed
#: piece can stand for any amount of output, so output is cut to this.
DECODED_PIECE_MAX = 64 * 1024


class LiveBody:
    """Reads one native stream for a spider (owned by the handler)."""

    def __init__(
        self,
        *,
        request: Request,
        stream_id: str | None,
        first_chunk: bytes,
        first_error: NativeError | None,
        pushed: PushedStream | None,
        cancel_native: Callable[[str], None],
        on_bytes: Callable[[bytes], StopDownload | None],
        is_closing: Callable[[], bool],
        decoder: Decoder | None,
        maxsize: int,
        timeout: float,
        status: int = 200,
        content_type: str = "",
        reopen: Callable[[str], Awaitable[LiveBody]] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.request = request
        #: The native stream while it is open, in a box the finalizer shares:
        #: a finalizer must not hold the body itself, which holds its request,
        #: whose meta holds the stream (a cycle the finalizer would keep).
        self._native: list[str | None] = [stream_id]
        release = weakref.finalize(self, release_native, self._native, cancel_native)
        release.atexit = False  # the handler's close() has cancelled it by then
        self._pending = first_chunk
        self._error = first_error
        #: The pieces the library pushes while the stream is open.
        self._pushed = pushed
        self._cancel_native = cancel_native
        self._on_bytes = on_bytes
        self._is_closing = is_closing
        self._decoder = decoder
        self._maxsize = maxsize
        self._timeout = timeout
        self._ended = False
        self.status = status
        self.content_type = content_type
        #: Sends the request again with ``Last-Event-ID`` (SSE reconnection).
        self.reopen = reopen
        self._on_close = on_close
        #: Bytes received so far (as sent, before Content-Encoding decoding).
        self.bytes_received = 0
        #: Bytes handed out so far (decoded).
        self.bytes_decoded = 0
        #: Why the body ended early, if it did: "cancelled" (by the
        #: consumer or DOWNLOAD_MAXSIZE), "stopped" (StopDownload),
        #: "closing" (the crawl is stopping).
        self.stopped: str | None = None

    @property
    def _stream_id(self) -> str | None:
        return self._native[0]

    @_stream_id.setter
    def _stream_id(self, value: str | None) -> None:
        self._native[0] = value

    @property
    def closed(self) -> bool:
        return self._ended

    async def read(self) -> bytes:
        """The next piece of the body (decoded); ``b""`` once it has ended.

        Raises the Scrapy exception of a failed transfer:
        ``ResponseDataLossError`` when the server cut the body short,
        ``DownloadCancelledError`` after ``cancel()`` or when the crawl
        closes, ``DownloadFailedError``... as for any download."""
        while not self._ended:
            decoded = self._decoded_piece()
            if decoded:
                return decoded
            chunk = self._pending
            self._pending = b""
            if not chunk:
                if self._stream_id is None:
                    return self._finish()
                if self._is_closing():
                    # The crawl is stopping: the body ends here, without an
                    # error (a graceful stop would otherwise wait for an
                    # endless stream forever).
                    self.cancel("closing")
                    return b""
                pushed = self._pushed
                assert pushed is not None  # open streams are pushed
                try:
                    read = pushed.next_ready()
                    if read is None:
                        read = await pushed.wait()
                except NativeError as exc:
                    self._stream_id, self._error = None, exc  # released by the library
                    continue
                if read is None:
                    continue  # a heartbeat: nothing arrived in time
                if read.eof:
                    self._stream_id = None
                chunk = read.chunk
                if not chunk:
                    continue
                pushed.taken(len(chunk))
            accepted = self._accept(chunk)
            if accepted:
                return accepted
        if self.stopped == "cancelled":
            raise DownloadCancelledError(f"Streaming {self.request.url} was cancelled")
        return b""

    def _accept(self, chunk: bytes) -> bytes:
        self.bytes_received += len(chunk)
        stop = self._on_bytes(chunk)
        if stop is not None:
            self.cancel("stopped")
            return b""
        self._check_size("Received", self.bytes_received)
        if self._decoder is None:
            return chunk
        self._decoder.feed(chunk)
        return b""

    def _decoded_piece(self) -> bytes:
        """The next piece the decoder has, bounded in size whatever the
        body decodes to (a decompression bomb comes out piece by piece and
        stops at the request's size limit)."""
        if self._decoder is None:
            return b""
        try:
            piece = self._decoder.read(DECODED_PIECE_MAX)
        except ValueError as exc:
            self.cancel("cancelled")
            raise ResponseDataLossError(f"{exc} (while streaming {self.request.url})") from None
        self.bytes_decoded += len(piece)
        self._check_size("Decoded", self.bytes_decoded)
        return piece

    def _check_size(self, what: str, size: int) -> None:
        """Cancel past ``download_maxsize``, received or decoded bytes alike."""
        if self._maxsize and size > self._maxsize:
            message = (
                f"{what} {size} bytes which is larger than download max size "
                f"({self._maxsize}) in request {self.request}."
            )
            logger.warning(message)
            self.cancel("cancelled")
            raise DownloadCancelledError(message)

    def _finish(self) -> bytes:
        """The body has ended: the decoder's rest, or the failure."""
        self._end()
        error, self._error = self._error, None
        if error is not None:
            if cuts_body_short(error):
                raise ResponseDataLossError(
                    f"{error.message} (while streaming {self.request.url})"
                ) from error
            raise scrapy_error_for(error, self.request, self._timeout) from error
        if self._decoder is not None:
            # Drained by read() before the body could end here.
            try:
                self._decoder.close()
            except ValueError as exc:
                raise ResponseDataLossError(f"{exc} (while streaming {self.request.url})") from None
        return b""

    def _end(self) -> None:
        self._ended = True
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()

    def cancel(self, reason: str = "cancelled") -> None:
        """End the body now and release the native stream (idempotent,
        non-blocking, safe from finalizers)."""
        if self._ended:
            return
        self._end()
        self.stopped = reason
        self._pending = b""
        stream_id, self._stream_id = self._stream_id, None
        if stream_id is not None:
            self._cancel_native(stream_id)
        if self._pushed is not None:
            self._pushed.close()


def release_native(box: list[str | None], cancel_native: Callable[[str], None]) -> None:
    """The finalizer of an object collected with its native stream (or
    WebSocket) still open: cancel it, once."""
    native_id, box[0] = box[0], None
    if native_id is not None:
        cancel_native(native_id)
