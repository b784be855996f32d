"""The Scrapy download handler: every request through tls-client.

It follows the flow of Scrapy's own streaming handlers: send, check the
announced size, ``headers_received``, read the body chunk by chunk with
``bytes_received``, ``DOWNLOAD_MAXSIZE``/``WARNSIZE`` while reading,
``StopDownload``, dataloss. Requests and reads go through the library's
completion socket (``_completions``: the event loop writes submissions to
it and reads the results when it is readable; no thread waits, and the
event-loop thread does not call into Go); the few other
native calls (cancel, destroy) run in a small thread pool
(``_threads``). The reactor thread never blocks.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import sys
import time
import weakref
from contextlib import aclosing, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from pydispatch.dispatcher import getAllReceivers, liveReceivers  # type: ignore[import-untyped]
from scrapy import signals
from scrapy.exceptions import (
    CloseSpider,
    DownloadCancelledError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
    ResponseDataLossError,
    StopDownload,
    UnsupportedURLSchemeError,
)
from scrapy.responsetypes import responsetypes
from scrapy.utils.conf import build_component_list
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object
from twisted.python.failure import Failure

from ._body_file import check_body_file
from ._completions import CompletionDispatcher
from ._config import (
    TLSClientSettingsError,
    ssl_key_log_file,
    stopped_error,
    warn_ignored_tls_settings,
)
from ._decoding import decoder_for
from ._event_loop import call_later, sleep, start
from ._identity_registry import crawl_setup
from ._live import LiveBody
from ._progress import DownloadProgress
from ._request_input import (
    LONGEST_DEADLINE,
    ClientOptionsCache,
    NativeCall,
    check_serialisable_meta,
    request_input_from,
)
from ._response_args import ip_address_from, protocol_name, scrapy_headers, tls_certificate
from ._resume_store import ResumeStore
from ._resuming import Resumer, StartOver
from ._scrapy_errors import cuts_body_short, scrapy_error_for
from ._sessions import SessionPool
from ._tail_hash import TailHasher
from ._threads import make_runner
from ._tls_options import PROCESS_PINS
from ._version import __version__
from ._websocket_open import WebSocketOpener
from .binding.envelopes import StreamRead
from .binding.errors import NativeError
from .binding.memory import BodyMemory, BodyPieces
from .streaming import STREAM_META_KEY, attach, live_body_of
from .websocket import WEBSOCKET_META_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from ._decoding import Decoder
    from ._resume_store import ResumeAttempt
    from .binding.envelopes import NativeResponse, RequestInput

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["TLSClientDownloadHandler"]

#: readStream heartbeat: a blocked read returns at least this often, so a
#: closing crawler is noticed even if a cancel were lost.
READ_HEARTBEAT_MS = 1000
#: Bytes one readStream call may return (already-buffered chunks joined):
#: what the library reads ahead of a large body (about 1 MiB, streams.go),
#: so that a read takes all of it at once.
READ_MAX_BYTES = 1 << 20
#: When Python writes a body_file it takes up to this much per read; when
#: the library writes, a read goes on until the heartbeat or
#: DOWNLOAD_MAXSIZE (docs/abi.rst, "Body to a file").
FILE_READ_MAX_BYTES = 2 << 20
#: The most decoded output held at once on its way to a ``body_file``: a
#: compressed read can stand for any amount of output (a 1.6 KB brotli
#: body for 1 GiB), so the decoder gives it in pieces of this size, each
#: counted against DOWNLOAD_MAXSIZE before it is written.
FILE_DECODED_PIECE_MAX = 1 << 20
#: close() waits at most this long for downloads to unwind.
CLOSE_GRACE_S = 4.0
#: Crawlers whose scheduled requests a handler already checks.
_SCHEDULING_CHECKED: weakref.WeakSet[Crawler] = weakref.WeakSet()
#: SSLKEYLOGFILE as the crawler's first handler found it: Scrapy builds one
#: handler per scheme, and an unwritable path is reported once.
_KEY_LOG_FILES: weakref.WeakKeyDictionary[Crawler, str | None] = weakref.WeakKeyDictionary()
#: Crawlers whose bad settings a handler already reported.
_BAD_SETTINGS_REPORTED: weakref.WeakSet[Crawler] = weakref.WeakSet()
#: The finish reason of a spider closed at start for a bad setting.
BAD_SETTINGS_REASON = "bad_tls_client_settings"


class TLSClientDownloadHandler:
    """Download handler for ``http`` and ``https`` over tls-client."""

    lazy: ClassVar[bool] = False
    requires_asyncio: ClassVar[bool] = False
    supports_proxies: ClassVar[bool] = True
    supports_per_request_bindaddress: ClassVar[bool] = True

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        try:
            setup = crawl_setup(crawler.settings)
        except TLSClientSettingsError as exc:
            raise _stop_at_start(crawler, exc) from None
        warn_ignored_tls_settings(crawler.settings)
        self._library = setup.library
        self._profiles = setup.profiles
        config = setup.config
        self._config = replace(config, ssl_key_log_file=_key_log_file(crawler))
        self._calls = CompletionDispatcher(self._library)
        self._runner = make_runner(self._config.threads)
        try:
            store = ResumeStore(self._config.resume_dir, self._config.resume_max_age)
        except OSError as exc:
            raise _stop_at_start(
                crawler,
                TLSClientSettingsError(
                    f"TLS_CLIENT_RESUME_DIR (or JOBDIR): cannot keep the records of partial downloads in "
                    f"{self._config.resume_dir!r}: {exc}"
                ),
            ) from None
        self._resumer = Resumer(
            store, self._runner, self._count, lambda: self._closing, default=self._config.resume
        )
        self._sessions = SessionPool(self._config.max_sessions)
        self._clients = ClientOptionsCache(self._config, self._profiles)
        self._stream_prefix = f"scrapy-{secrets.token_hex(4)}-"
        self._stream_numbers = itertools.count()
        self._in_flight: set[str] = set()
        #: Bodies handed to spiders and not yet collected.
        self._live: weakref.WeakSet[LiveBody] = weakref.WeakSet()
        self._websockets = WebSocketOpener(self)
        self._closing = False
        self._dataloss_warned = False
        if crawler in _SCHEDULING_CHECKED:
            return
        # Scrapy builds one handler per scheme (http, https): one check and
        # one start-up line per crawl.
        _SCHEDULING_CHECKED.add(crawler)
        crawler.signals.connect(self._refuse_unserialisable, signal=signals.request_scheduled)
        info = self._library.info
        logger.info(
            "scrapy_tlsclient %s: native library %s (tls-client %s, %s) at %s; default profile %s; "
            "%d threads for native calls",
            __version__,
            info.version,
            info.tls_client_version,
            info.go_version,
            info.path,
            self._config.profile if self._config.custom_tls is None else "custom TLS (TLS_CLIENT_CUSTOM_TLS)",
            self._config.threads,
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _refuse_unserialisable(self, request: Request, spider: object = None) -> None:
        """Drop a request whose tls_client_* meta would break the scheduler's
        serialisation (JOBDIR, scrapy-redis), before a queue sees it:
        Scrapy's disk queue would otherwise keep it in memory with a
        warning, scrapy-redis fail in pickle far from the cause. A request
        made from a streamed one (``response.request.replace(...)``) loses
        the copy of that response's stream its meta carries."""
        request.meta.pop(STREAM_META_KEY, None)
        request.meta.pop(WEBSOCKET_META_KEY, None)
        try:
            check_serialisable_meta(request.meta)
        except ValueError as exc:
            logger.error("Dropped %s: %s", request, exc)
            self._count("requests/refused_unserialisable")
            raise IgnoreRequest(str(exc)) from None

    # -- the download -----------------------------------------------------

    async def download_request(self, request: Request) -> Response:
        if self._closing:
            raise DownloadCancelledError(f"The download handler is closed; not downloading {request.url}")
        scheme = urlparse_cached(request).scheme
        if scheme in ("ws", "wss"):
            return await self._websockets.open(request)
        if scheme not in ("http", "https"):
            raise UnsupportedURLSchemeError(f"Unsupported URL scheme {scheme!r} in {request.url}")
        # Resume state only for body_file requests: the usual request pays nothing.
        attempt = await self._resumer.begin(request) if request.meta.get("body_file") is not None else None
        if attempt is None:
            return await self._download(request, None)
        try:
            try:
                return await self._download(request, attempt)
            except StartOver:
                pass
            # The kept bytes cannot be completed from this server's answer:
            # the same request once more, without Range, from the start.
            return await self._download(request, attempt)
        finally:
            await self._resumer.release(attempt)

    async def _download(self, request: Request, attempt: ResumeAttempt | None) -> Response:
        stream_id = f"{self._stream_prefix}{next(self._stream_numbers)}"
        if request.meta.get("body_file") is not None or request.meta.get("tls_client_stream"):
            # The response's body is in a file or still streaming: the empty
            # body HttpCacheMiddleware would store is no response to replay.
            request.meta["dont_cache"] = True
        call = request_input_from(
            self._resumer.wire_request(request, attempt),
            self._config,
            stream_id=stream_id,
            profiles=self._profiles,
            clients=self._clients,
        )
        if request.meta.get("body_file") is not None:
            # Refused before anything is sent (a directory that is missing
            # or read-only, a device, a name too long), off the event loop:
            # it looks at the file system.
            await self._runner.run(check_body_file, request.meta["body_file"])
        pins = call.request_input.get("certificatePinningHosts")
        if pins:
            PROCESS_PINS.register(
                pins, "Certificate pins (tls_client_certificate_pins / TLS_CLIENT_CERTIFICATE_PINS)"
            )
        session_id, evicted = self._sessions.session_for(call.session_key)
        if evicted is not None:
            await self._runner.run(self._library.destroy_session, evicted)
        request_input = call.on_session(session_id)
        self._in_flight.add(stream_id)
        transfer = _Transfer(stream_id)
        started = time.monotonic()
        self._count("requests")
        self._count(f"requests/profile/{request_input.get('tlsClientIdentifier') or 'custom'}")
        try:
            native = await self._send(request_input, request, call, transfer)
            request.meta["download_latency"] = time.monotonic() - started
            _log_debug(request, native.debug_log)
            transfer.open_stream = native.stream_id
            response = await self._read_response(native, request, call, transfer, attempt)
            self._count("response_bytes", len(response.body))
            return response
        except Exception as exc:
            if isinstance(exc.__cause__, NativeError):
                self._count(f"errors/{type(exc.__cause__).__name__}")
            raise
        finally:
            self._in_flight.discard(stream_id)
            if transfer.open_stream is not None:
                # Every exit path that leaves the body unread (maxsize,
                # StopDownload, a cancelled download) ends the transfer.
                await self._runner.run(self._library.cancel_stream, transfer.open_stream)

    async def _send(
        self, request_input: RequestInput, request: Request, call: NativeCall, transfer: _Transfer
    ) -> NativeResponse:
        """Start the call and wait for the response headers (and the first
        body bytes). A streamed request has no native deadline (its body may
        be endless), so its headers are timed here."""
        timed_out = False

        def time_out() -> None:
            nonlocal timed_out
            timed_out = True
            self._runner.submit(self._library.cancel_stream, transfer.open_stream)

        timed = call.stream and call.timeout <= LONGEST_DEADLINE
        disarm = call_later(call.timeout, time_out) if timed else None
        try:
            return await self._calls.request_stream(request_input, call.body)
        except NativeError as exc:
            transfer.open_stream = None
            _log_debug(request, exc.debug_log)
            if timed_out:
                raise DownloadTimeoutError(
                    f"Getting {request.url} took longer than {call.timeout} seconds."
                ) from exc
            raise scrapy_error_for(exc, request, call.timeout, before_headers=True) from exc
        finally:
            if disarm is not None:
                disarm()

    async def _read_response(
        self,
        native: NativeResponse,
        request: Request,
        call: NativeCall,
        transfer: _Transfer,
        attempt: ResumeAttempt | None = None,
    ) -> Response:
        """Read the body, keeping ``transfer.open_stream`` up to date: None
        once the library has released the stream (end of body or error)."""
        download_timeout = call.timeout
        if call.stream:
            # A streamed body is never held whole: DOWNLOAD_MAXSIZE and
            # DOWNLOAD_WARNSIZE do not apply, a per-request limit does
            # (docs/streaming.rst).
            maxsize = int(request.meta.get("download_maxsize") or 0)
            warnsize = int(request.meta.get("download_warnsize") or 0)
        else:
            maxsize = request.meta.get("download_maxsize", self._config.maxsize)
            warnsize = request.meta.get("download_warnsize", self._config.warnsize)
        headers = scrapy_headers(native)
        # An appended rest is given as the whole file it completes (200).
        status = native.status
        if attempt is not None:
            status = await self._resumer.on_headers(attempt, request, status, headers)
        content_length = headers.get(b"Content-Length")
        expected = int(content_length) if content_length and content_length.isdigit() else None
        if not _has_body(request, native.status):
            # The Content-Length of a HEAD, 204 or 304 answer describes a
            # body that is not sent (RFC 9110 8.6): nothing to limit.
            expected = None
        if maxsize and expected and expected > maxsize:
            self._cancel_for_maxsize(expected, maxsize, request, expected=True)
        warned = bool(warnsize and expected and expected > warnsize)
        if warned:
            logger.warning(_size_message("warn", expected or 0, warnsize, request, expected=True))

        base_args = self._response_args(native, request, headers)
        base_args["status"] = status
        if status != native.status:
            base_args["flags"].append("resumed")
        if self._config.tls_verbose_logging:
            self._log_tls(native, request)
        stop = self._stop_download(signals.headers_received, request, headers=headers, body_length=expected)
        if stop is not None:
            return _make_response(base_args, b"", stop_download=stop)
        if call.stream:
            return self._hand_over(native, request, headers, base_args, transfer)
        if request.meta.get("body_file") is not None and not self._redirected(
            request, native.status, headers
        ):
            return await self._read_into_file(native, request, call, transfer, headers, base_args, attempt)

        if native.stream_id is None and native.body_error is None:
            # The whole body came with the headers (most pages): no read
            # loop around its one piece.
            whole = native.body
            if whole:
                stop, _ = self._received(whole, len(whole), request, maxsize, warnsize, warned)
                if stop is not None:
                    return _make_response(base_args, whole, stop_download=stop)
            return _make_response(base_args, whole)
        body = self._body_collector(expected)
        memory = body if isinstance(body, BodyMemory) else None
        try:
            async with aclosing(
                self._body_pieces(native, request, transfer, READ_MAX_BYTES, into=memory)
            ) as pieces:
                async for piece in pieces:
                    if piece.written:
                        assert memory is not None
                        memory.wrote(piece.written)  # within the announced length
                        continue
                    body.append(piece.chunk)
                    stop, warned = self._received(piece.chunk, body.size, request, maxsize, warnsize, warned)
                    if stop is not None:
                        return _make_response(base_args, body.body(), stop_download=stop)
        except NativeError as error:
            if not cuts_body_short(error):
                raise scrapy_error_for(error, request, download_timeout) from error
            fail_on_dataloss: bool = request.meta.get(
                "download_fail_on_dataloss", self._config.fail_on_dataloss
            )
            if not fail_on_dataloss:
                return _make_response(base_args, body.body(), flags=["dataloss"])
            if not self._dataloss_warned:
                self._dataloss_warned = True
                logger.warning(
                    "Got data loss in %s. If you want to process broken responses set the setting "
                    "DOWNLOAD_FAIL_ON_DATALOSS = False -- This message won't be shown in further requests",
                    request.url,
                )
            raise ResponseDataLossError(f"{error.message} (while downloading {request.url})") from error
        return _make_response(base_args, body.body())

    def _body_collector(self, expected: int | None) -> BodyMemory | BodyPieces:
        """Where a body read into memory goes. With its length announced
        and nobody receiving ``bytes_received`` (which needs each piece as
        bytes), the library's reads fill the response's own ``bytes``
        object in place (BodyMemory); otherwise the pieces are joined."""
        if expected and not self._observed(signals.bytes_received):
            try:
                return BodyMemory(expected)
            except MemoryError:  # a length beyond the address space: grow as bytes come
                pass
        return BodyPieces()

    def _received(
        self, chunk: bytes, size: int, request: Request, maxsize: int, warnsize: int, warned: bool
    ) -> tuple[StopDownload | None, bool]:
        """What each piece of a body goes through, ``size`` bytes in so far:
        ``bytes_received`` (whose handler may stop the download), then
        DOWNLOAD_MAXSIZE (raises), then DOWNLOAD_WARNSIZE (warns once).
        Returns the StopDownload, if any, and whether the warning is given."""
        stop = self._stop_download(signals.bytes_received, request, data=chunk)
        if stop is not None:
            return stop, warned
        if maxsize and size > maxsize:
            self._cancel_for_maxsize(size, maxsize, request, expected=False)
        if warnsize and size > warnsize and not warned:
            warned = True
            logger.warning(_size_message("warn", size, warnsize, request, expected=False))
        return None, warned

    async def _body_pieces(
        self,
        native: NativeResponse,
        request: Request,
        transfer: _Transfer,
        max_bytes: int | Callable[[], int],
        output_path: str | None = None,
        after_read: Callable[[], None] | None = None,
        into: BodyMemory | None = None,
    ) -> AsyncGenerator[StreamRead, None]:
        """The body as it arrives: the piece that came with the headers,
        then readStream answers until the end, each within one heartbeat so
        a closing handler is noticed. ``transfer.open_stream`` becomes None
        once the library has released the stream (end of body or failure);
        a failure is raised as the NativeError after the pieces before it.
        With ``output_path`` the library appends the pieces it reads to that
        file and they come as counts (``StreamRead.written``): such a read
        goes on until ``max_bytes`` (0: no limit) or the heartbeat; with
        ``into``, while it has room, the library copies them into that
        memory and they come as counts too (such a read may outlast the
        heartbeat: docs/abi.rst, "Body into memory"). ``max_bytes`` may be
        a function, asked before each read;
        ``after_read`` is called after each read, one that brought nothing
        (a heartbeat of a stalled body) included."""
        if native.body:
            yield StreamRead(chunk=native.body)
        if native.body_error is not None:
            raise native.body_error
        stream_id = native.stream_id
        while stream_id is not None:
            if self._closing:
                raise DownloadCancelledError(f"The download handler closed while downloading {request.url}")
            try:
                limit = max_bytes() if callable(max_bytes) else max_bytes
                read = await self._calls.read_stream(
                    stream_id,
                    READ_HEARTBEAT_MS,
                    limit,
                    output_path,
                    into=into if into is not None and into.room else None,
                )
            except NativeError:
                transfer.open_stream = None
                raise
            if read.eof:
                stream_id = transfer.open_stream = None
            if after_read is not None:
                after_read()
            if read.chunk or read.written:
                yield read

    async def _read_into_file(
        self,
        native: NativeResponse,
        request: Request,
        call: NativeCall,
        transfer: _Transfer,
        headers: Any,
        base_args: dict[str, Any],
        attempt: ResumeAttempt | None,
    ) -> Response:
        """The ``body_file`` path: the body goes to the file as it arrives
        (decoded, as ``response.body`` would be after HttpCompressionMiddleware),
        ``response.body`` stays empty, and the file is complete or absent.

        When nothing needs the bytes in Python (no decoding, no
        ``bytes_received`` receiver, a path target), the library appends
        them to the file itself and reports counts: the body never crosses
        into Python (docs/files.rst, "How the bytes travel")."""
        maxsize: int = request.meta.get("download_maxsize", self._config.maxsize)
        request.meta.pop("tls_client_body_file_digest", None)  # this attempt's, if any
        # Before the Content-Encoding goes: only identity bodies are kept
        # for resuming (docs/files.rst, "Resuming").
        sink = await self._resumer.open_sink(attempt, request, base_args["status"], headers)
        decoder = _take_decoding(headers)  # the file holds the decoded body
        library_path = sink.library_path
        if (
            decoder is not None
            or not self._library.has_output_reads
            or self._observed(signals.bytes_received)
        ):
            library_path = None
        # A digest of the file, computed as it is written (_tail_hash).
        algorithm: str | None = request.meta.get("tls_client_body_file_hash")
        hasher: TailHasher | None = None
        hashing: Awaitable[None] | None = None
        if algorithm and sink.library_path is not None:
            # After a resume, on from the kept bytes' hash when this process has it.
            state = attempt.hash_state(algorithm) if attempt is not None else None
            hasher = await self._runner.run(TailHasher.open, sink.library_path, algorithm, state)
            if hasher is not None:
                hashing = start(self._runner.run(hasher.follow))
        content_length = headers.get(b"Content-Length")
        #: Bytes kept from earlier attempts, which this one completes.
        offset = sink.offset
        progress = DownloadProgress(
            request.url,
            request.meta.get("tls_client_body_file_label") or sink.target,
            int(content_length) if content_length and content_length.isdigit() else None,
            self._config.progress_interval,
            start=offset,
        )
        committed = False
        # The file's size so far: DOWNLOAD_MAXSIZE bounds the whole file.
        received = offset
        stop: StopDownload | None = None
        #: Body bytes after decoding, on their way to the file.
        decoded = 0

        def read_limit() -> int:
            if library_path is None:
                return FILE_READ_MAX_BYTES
            # The library writes until this limit or the heartbeat: stop
            # it just past DOWNLOAD_MAXSIZE, so an oversized body puts at
            # most one more block on disk before it is cancelled.
            return max(maxsize + 1 - received, 1) if maxsize else 0

        # A chunk's write runs on a thread while the next chunk is read; at
        # most one write is in flight, so writes stay in order.
        writing: Awaitable[None] | None = None

        async def write(data: bytes) -> None:
            nonlocal writing
            if writing is not None:
                previous, writing = writing, None
                await previous
            writing = start(self._runner.run(sink.write, data))

        async def write_decoded() -> None:
            """What the decoder has, in bounded pieces, each counted
            against DOWNLOAD_MAXSIZE before it is written: a decompression
            bomb stops at the limit with one piece in memory."""
            nonlocal decoded
            assert decoder is not None
            while piece := decoder.read(FILE_DECODED_PIECE_MAX):
                decoded += len(piece)
                if maxsize and decoded > maxsize:
                    self._cancel_for_maxsize(decoded, maxsize, request, expected=False)
                await write(piece)

        try:
            async with aclosing(
                self._body_pieces(
                    native, request, transfer, read_limit, library_path, lambda: progress.update(received)
                )
            ) as pieces:
                async for piece in pieces:
                    received += len(piece.chunk) + piece.written
                    self._count("body_file/bytes", len(piece.chunk) + piece.written)
                    sink.appended(piece.written)
                    data = piece.chunk
                    if data and library_path is None:
                        stop = self._stop_download(signals.bytes_received, request, data=data)
                        if stop is not None and stop.fail:
                            return _make_response(base_args, b"", stop_download=stop)
                    # Raw and decoded sizes both count against the limit.
                    if maxsize and received > maxsize:
                        self._cancel_for_maxsize(received, maxsize, request, expected=False)
                    if data and decoder is not None:
                        decoder.feed(data)
                        await write_decoded()
                    elif data and library_path is not None:
                        # The start that came with the headers: in the file
                        # before the library appends the rest.
                        await self._runner.run(sink.write, data)
                        await self._runner.run(sink.hand_over)
                    elif data:
                        await write(data)
                    progress.update(received)
                    if stop is not None:
                        # StopDownload(fail=False): what arrived is the
                        # body, as on the in-memory path; the file keeps it.
                        break
            if writing is not None:
                written, writing = writing, None
                await written
            if decoder is not None and stop is None:
                decoder.close()  # a body cut inside a compressed stream is data loss
            digest = None
            if hasher is not None and hashing is not None:
                await self._runner.run(sink.hand_over)  # Python's writes, flushed
                hasher.finish()
                followed, hashing = hashing, None
                await followed
                if hasher.done == sink.offset + sink.written:
                    digest = hasher.hexdigest()
            await self._runner.run(sink.commit)
            committed = True
            self._count("body_file/stored")
            if digest is not None:
                request.meta["tls_client_body_file_digest"] = digest
            await self._resumer.committed(attempt, request)
            return _make_response(base_args, b"", stop_download=stop)
        except NativeError as error:
            if cuts_body_short(error):
                raise ResponseDataLossError(f"{error.message} (while downloading {request.url})") from error
            raise scrapy_error_for(error, request, call.timeout) from error
        except ValueError as exc:  # a malformed compressed body
            raise ResponseDataLossError(f"{exc} (while downloading {request.url})") from None
        finally:
            failure = sys.exc_info()[1]
            if hasher is not None:
                hasher.abandon()
                if hashing is not None:
                    with suppress(Exception):
                        await hashing
                hasher.close()
                if not committed and attempt is not None and attempt.writing is not None:
                    attempt.writing.hash_state = hasher.state()  # for a resume
            if writing is not None:
                # The file is kept or discarded below: let the write in
                # flight end first (its own failure no longer matters).
                with suppress(Exception):
                    await writing
            if not committed and not await self._resumer.end(attempt, sink, failure):
                self._count("body_file/discarded")

    def _redirected(self, request: Request, status: int, headers: Any) -> bool:
        """Whether RedirectMiddleware will follow this response: then its
        body is no body of the file (it would replace a complete one before
        the redirect even starts) and is read into memory instead."""
        return (
            status in _REDIRECTS
            and b"Location" in headers
            and self._config.redirect_enabled
            and not request.meta.get("dont_redirect")
            and status not in request.meta.get("handle_httpstatus_list", ())
            and not request.meta.get("handle_httpstatus_all")
        )

    def _observed(self, signal: object) -> bool:
        """Whether any receiver is connected to ``signal``."""
        return any(liveReceivers(getAllReceivers(self.crawler.signals.sender, signal)))

    def _hand_over(
        self,
        native: NativeResponse,
        request: Request,
        headers: Any,
        base_args: dict[str, Any],
        transfer: _Transfer,
    ) -> Response:
        """The response of a ``tls_client_stream`` request, body unread: the
        spider reads it through ``stream_of(response)``."""
        decoder = _take_decoding(headers)  # the stream decodes as it reads
        stream_id = native.stream_id if transfer.open_stream is not None else None
        body = LiveBody(
            request=request,
            stream_id=stream_id,
            first_chunk=native.body,
            first_error=native.body_error,
            pushed=self._calls.push_stream(stream_id, READ_HEARTBEAT_MS / 1000) if stream_id else None,
            cancel_native=lambda sid: self._runner.submit(self._library.cancel_stream, sid),
            on_bytes=lambda chunk: self._stop_download(signals.bytes_received, request, data=chunk),
            is_closing=self._crawl_closing,
            decoder=decoder,
            # DOWNLOAD_MAXSIZE bounds memory, and a streamed body is never
            # held whole; an explicit per-request limit still applies.
            maxsize=int(request.meta.get("download_maxsize") or 0),
            timeout=float(request.meta.get("download_timeout") or self._config.download_timeout),
            status=native.status,
            content_type=(headers.get(b"Content-Type") or b"").decode("latin-1"),
            reopen=lambda last_event_id: self._reopen(request, last_event_id),
            on_close=lambda: self._count("streams/closed"),
        )
        transfer.open_stream = None  # the stream's owner is now the body
        self._count("streams/opened")
        self._live.add(body)
        attach(request, body)
        return _make_response(base_args, b"", flags=["tls_client_stream"])

    def _count(self, key: str, count: int = 1) -> None:
        """A ``tls_client/...`` stat (docs/stats.rst)."""
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"tls_client/{key}", count)

    def _crawl_closing(self) -> bool:
        """The crawl is stopping: the handler is closing, or the engine is
        (a graceful stop waits for every response's callback, so streams
        handed to callbacks must end for it to finish)."""
        if self._closing:
            return True
        try:
            engine = self.crawler.engine
        except RuntimeError:  # no crawl started (a handler used on its own)
            return False
        if not getattr(engine, "running", True):
            return True
        # Closing for another reason (CloseSpider, closespider_* limits):
        # Scrapy has no public signal before the spider waits for its
        # callbacks, so this reads the engine slot's closing marker.
        slot = getattr(engine, "_slot", None)
        return getattr(slot, "closing", None) is not None

    async def _reopen(self, request: Request, last_event_id: str) -> LiveBody:
        """Send a streamed request again, for SSE reconnection: the same
        request with the ``Last-Event-ID`` header, straight to the library
        (Scrapy's middlewares ran for the first connection)."""
        headers = request.headers.copy()
        headers.pop(b"Last-Event-ID", None)
        if last_event_id:
            headers[b"Last-Event-ID"] = last_event_id.encode("utf-8")
        again = request.replace(headers=headers)
        await self.download_request(again)
        return live_body_of(again)

    # -- helpers --------------------------------------------------------------

    def _response_args(self, native: NativeResponse, request: Request, headers: Any) -> dict[str, Any]:
        der = native.tls.peer_certificate_der if native.tls else None
        return {
            "url": request.url,
            "status": native.status,
            "headers": headers,
            "protocol": protocol_name(native.protocol),
            "ip_address": ip_address_from(native.remote_address),
            "certificate": tls_certificate(der) if der else None,
            # As Scrapy's HTTP11 handler flags a body that ends with the
            # connection (Twisted's PotentialDataLoss).
            "flags": ["partial"] if native.close_delimited else [],
        }

    def _stop_download(self, signal: object, request: Request, **kwargs: Any) -> StopDownload | None:
        results = self.crawler.signals.send_catch_log(
            signal=signal, request=request, spider=self.crawler.spider, **kwargs
        )
        for handler, result in results:
            if isinstance(result, Failure) and isinstance(result.value, StopDownload):
                logger.debug("Download stopped for %s from signal handler %s", request, handler.__qualname__)
                return result.value
        return None

    @staticmethod
    def _cancel_for_maxsize(size: int, limit: int, request: Request, *, expected: bool) -> None:
        message = _size_message("max", size, limit, request, expected=expected)
        logger.warning(message)
        raise DownloadCancelledError(message)

    @staticmethod
    def _log_tls(native: NativeResponse, request: Request) -> None:
        if native.tls is None:
            return
        logger.debug(
            "SSL connection to %s using protocol %s, cipher %s (ALPN %s, server name %s)",
            urlparse_cached(request).hostname,
            native.tls.version,
            native.tls.cipher_suite,
            native.tls.negotiated_protocol or "none",
            native.tls.server_name,
        )

    # -- shutdown -------------------------------------------------------------

    async def close(self) -> None:
        """Cancel every download in flight, destroy the sessions, stop the threads.

        Idempotent: a second call returns at once."""
        if self._closing:
            return
        self._closing = True
        for body in list(self._live):
            body.cancel("closing")
        websockets = self._websockets.close_all()
        in_flight = list(self._in_flight)
        sessions = self._sessions.drain()

        def release() -> None:
            for socket_id in websockets:  # before their sessions go
                self._library.cancel_stream(socket_id)
            for stream_id in in_flight:
                self._library.cancel_stream(stream_id)
            for session_id in sessions:
                self._library.destroy_session(session_id)

        await self._runner.run(release)
        deadline = time.monotonic() + CLOSE_GRACE_S
        while self._in_flight and time.monotonic() < deadline:
            await sleep(0.02)
        # Without a resume directory, bytes kept for retries end with the crawl.
        await self._resumer.close()
        self._calls.stop()
        await self._runner.close()


def _log_debug(request: Request, lines: list[str]) -> None:
    for line in lines:
        logger.debug("tls-client debug for %s: %s", request, line)


class _Transfer:
    """The native stream of one download, while the library holds it open."""

    __slots__ = ("open_stream",)

    def __init__(self, stream_id: str | None) -> None:
        self.open_stream = stream_id


#: The statuses RedirectMiddleware follows.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _has_body(request: Request, status: int) -> bool:
    """Whether a response may carry a body (RFC 9110 6.4.1)."""
    return request.method != "HEAD" and status not in (204, 304) and not 100 <= status < 200


def _take_decoding(headers: Any) -> Decoder | None:
    """A decoder for the body's Content-Encoding, which the handler applies
    itself (streams, body_file): the header goes, with the Content-Length
    of the encoded body, so HttpCompressionMiddleware, which decodes whole
    bodies, leaves the response alone."""
    decoder = decoder_for(headers.getlist(b"Content-Encoding"))
    if decoder is not None:
        del headers[b"Content-Encoding"]
        headers.pop(b"Content-Length", None)
    return decoder


def _size_message(kind: str, size: int, limit: int, request: Request, *, expected: bool) -> str:
    """Scrapy's wording for DOWNLOAD_MAXSIZE / DOWNLOAD_WARNSIZE."""
    prefix = "Expected to receive" if expected else "Received"
    return f"{prefix} {size} bytes which is larger than download {kind} size ({limit}) in request {request}."


def _make_response(
    base_args: dict[str, Any],
    body: bytes,
    *,
    flags: list[str] | None = None,
    stop_download: StopDownload | None = None,
) -> Response:
    respcls = responsetypes.from_args(headers=base_args["headers"], url=base_args["url"], body=body)
    response = respcls(**{**base_args, "flags": [*base_args["flags"], *(flags or [])]}, body=body)
    if stop_download is not None:
        response.flags.append("download_stopped")
        if stop_download.fail:
            stop_download.response = response
            raise stop_download
    return response


def _stop_at_start(crawler: Crawler, error: TLSClientSettingsError) -> NotConfigured:
    """Report a bad setting once per crawler and stop the crawl at start.

    Scrapy logs and disables a download handler whatever it raises, and the
    crawl would go on with every request failing. What Scrapy lets through
    is an error from a downloader middleware's from_crawler, and the
    downloader builds its middlewares right after its handlers: so
    TLSClientMiddleware raises the same error when it is enabled, and
    otherwise the handler enables _BadSettingsGuard, which raises it. Either
    way the crawl fails before the spider opens and `scrapy crawl` exits 1.
    The handler logs the one error line either way; the exception raised
    past Scrapy only points back at it. Should the guard not be built, the
    spider is closed as it opens. Returns the exception for Scrapy, whose
    message it records quietly."""
    if crawler not in _BAD_SETTINGS_REPORTED:
        _BAD_SETTINGS_REPORTED.add(crawler)
        if not _middleware_enabled(crawler):
            logger.error("%s", error)
            _enable_guard(crawler)

            def close(spider: object = None) -> None:
                raise CloseSpider(BAD_SETTINGS_REASON)

            crawler.signals.connect(close, signal=signals.spider_opened, weak=False)
    return NotConfigured(str(error))


class _BadSettingsGuard:
    """A downloader middleware that fails the crawl of a crawler whose
    settings a handler found bad (_stop_at_start)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> _BadSettingsGuard:
        if crawler in _BAD_SETTINGS_REPORTED:
            raise stopped_error()
        raise NotConfigured


def _enable_guard(crawler: Crawler) -> None:
    settings = crawler.settings
    # Frozen once the crawler started; only this failing start sees the change.
    frozen, settings.frozen = settings.frozen, False
    try:
        middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
        middlewares[f"{__name__}._BadSettingsGuard"] = 0
        priority = settings.getpriority("DOWNLOADER_MIDDLEWARES") or 0
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares, priority=priority)
    finally:
        settings.frozen = frozen


def _middleware_enabled(crawler: Crawler) -> bool:
    from .middleware import TLSClientMiddleware

    for path in build_component_list(crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES")):
        try:
            component = load_object(path)
        except Exception:  # Scrapy reports a bad path itself
            continue
        if isinstance(component, type) and issubclass(component, TLSClientMiddleware):
            return True
    return False


def _key_log_file(crawler: Crawler) -> str | None:
    if crawler not in _KEY_LOG_FILES:
        _KEY_LOG_FILES[crawler] = ssl_key_log_file()
    return _KEY_LOG_FILES[crawler]
