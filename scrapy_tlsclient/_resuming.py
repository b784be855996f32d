"""The handler's side of resumable ``body_file`` downloads.

Before a body_file path request is sent: are there kept bytes of this URL
for this path? Then the request carries ``Range``/``If-Range``
(``_resume``). At the answer's headers: append, take the whole new file,
or start over. At the end: commit, keep the bytes for the retry (a cut, a
timeout, a lost connection; with a resume directory also the crawl
stopping), or discard them (``DOWNLOAD_MAXSIZE``, ``StopDownload``, a
malformed body, anything else). The records are ``_resume_store``'s.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.utils.httpobj import urlparse_cached

from ._body_file import body_sink_for, check_body_file
from ._resume import Answer, classify_answer, resumability
from ._resume_store import ResumeAttempt, ResumeStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Request

    from ._body_file import BodySink
    from ._threads import BlockingRunner as Runner

__all__ = ["ATTEMPTS_META_KEY", "RESUMED_BYTES_META_KEY", "Resumer", "StartOver", "header_map"]

#: Set on a body_file request when its file is stored (docs/meta.rst).
ATTEMPTS_META_KEY = "tls_client_body_file_attempts"
RESUMED_BYTES_META_KEY = "tls_client_body_file_resumed_bytes"

#: Failures after which the kept bytes are worth a retry: the network's.
_NETWORK_FAILURES = (
    ResponseDataLossError,
    DownloadTimeoutError,
    DownloadFailedError,
    DownloadConnectionRefusedError,
)


class StartOver(Exception):
    """The answer to a range request cannot complete the kept bytes: send
    the request again without ``Range``."""


def header_map(headers: Any) -> dict[str, str]:
    """Scrapy Headers as lower-case names to comma-joined values."""
    return {
        bytes(name).decode("latin-1").lower(): ", ".join(v.decode("latin-1") for v in headers.getlist(name))
        for name in headers
    }


class Resumer:
    """Resume state of one handler. Its coroutines run the file I/O on the
    handler's thread runner."""

    def __init__(
        self,
        store: ResumeStore,
        runner: Runner,
        count: Callable[[str, int], None],
        closing: Callable[[], bool],
        *,
        default: bool,
    ) -> None:
        #: TLS_CLIENT_RESUME: requests without the tls_client_resume key.
        self._default = default
        self._store = store
        self._closing = closing
        self._runner = runner
        self._count = count
        #: Origins that answered a range request with its 206: resumable
        #: even where they do not announce Accept-Ranges.
        self._ranges_answered: set[str] = set()

    @property
    def persistent(self) -> bool:
        return self._store.persistent

    async def begin(self, request: Request) -> ResumeAttempt | None:
        """The resume view of a body_file path request; None for any other."""
        target = request.meta.get("body_file")
        if not isinstance(target, (str, os.PathLike)) or not str(target):
            return None
        if request.meta.get("tls_client_resume", self._default) is not True:
            return None
        return await self._runner.run(self._store.begin, request.url, target)

    @staticmethod
    def wire_request(request: Request, attempt: ResumeAttempt | None) -> Request:
        """The request as sent: with Range/If-Range when there are kept bytes."""
        extra = attempt.request_headers() if attempt is not None else {}
        if not extra:
            return request
        headers = request.headers.copy()
        for name, value in extra.items():
            headers[name] = value
        return request.replace(headers=headers)

    async def on_headers(
        self, attempt: ResumeAttempt | None, request: Request, status: int, headers: Any
    ) -> int:
        """Judge the answer to a range request; the status the response is
        given (200 for an appended rest: the file is the whole
        representation). Raises StartOver."""
        if attempt is None or not attempt.offset or attempt.record is None:
            return status
        answer = classify_answer(status, header_map(headers), attempt.offset, attempt.record.total)
        attempt.answer = answer
        if answer is Answer.START_OVER or answer is Answer.WHOLE:
            self._count("body_file/restarted", 1)
            await self._runner.run(self._store_of().start_over, attempt)
            if answer is Answer.START_OVER:
                raise StartOver
            return status
        if answer is not Answer.APPEND:
            return status
        self._ranges_answered.add(_origin(request))
        self._count("body_file/resumed", 1)
        self._count("body_file/resumed_bytes", attempt.offset)
        # The response describes the file as stored: the whole of it.
        total = attempt.record.total
        del headers[b"Content-Range"]
        if total is not None:
            headers[b"Content-Length"] = str(total).encode()
        else:
            headers.pop(b"Content-Length", None)
        return 200

    async def open_sink(
        self, attempt: ResumeAttempt | None, request: Request, status: int, headers: Any
    ) -> BodySink:
        """Where this answer's body goes (call before the Content-Encoding
        header is taken away: a coded body is never resumed)."""
        if attempt is None:
            return await self._runner.run(body_sink_for, request.meta["body_file"])
        resumable = resumability(
            status, header_map(headers), ranges_answered=_origin(request) in self._ranges_answered
        )
        store = self._store_of()

        def open_() -> BodySink:
            check_body_file(attempt.final)
            return store.open_sink(attempt, resumable)

        return await self._runner.run(open_)

    async def end(self, attempt: ResumeAttempt | None, sink: BodySink, failure: BaseException | None) -> bool:
        """The attempt failed with ``failure``: keep the sink's bytes for
        the retry when they may be resumed, otherwise discard them.
        True when kept."""
        if attempt is None:
            await self._runner.run(sink.discard)
            return False
        keep = isinstance(failure, _NETWORK_FAILURES) or (
            # The crawl stopping (the handler closing cancels its downloads):
            # a resume directory keeps the bytes for the next run.
            self.persistent and isinstance(failure, DownloadCancelledError) and self._closing()
        )
        store = self._store_of()
        if keep:
            kept = await self._runner.run(store.keep, attempt, sink)
        else:
            await self._runner.run(sink.discard)
            await self._runner.run(store.finished, attempt)
            kept = False
        if kept:
            self._count("body_file/kept", 1)
        return kept

    async def committed(self, attempt: ResumeAttempt | None, request: Request) -> None:
        """The file is stored: its record goes; the meta says what it took."""
        if attempt is None:
            return
        await self._runner.run(self._store_of().finished, attempt)
        request.meta[ATTEMPTS_META_KEY] = attempt.attempts
        request.meta[RESUMED_BYTES_META_KEY] = attempt.resumed_bytes

    async def start_over(self, attempt: ResumeAttempt) -> None:
        await self._runner.run(self._store_of().start_over, attempt)

    async def release(self, attempt: ResumeAttempt | None) -> None:
        if attempt is not None and attempt.file is not None:
            await self._runner.run(self._store_of().release, attempt)

    async def close(self) -> None:
        await self._runner.run(self._store.close)

    def _store_of(self) -> ResumeStore:
        return self._store


def _origin(request: Request) -> str:
    parsed = urlparse_cached(request)
    return f"{parsed.scheme}://{parsed.netloc}"
