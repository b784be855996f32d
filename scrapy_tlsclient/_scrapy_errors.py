"""Native errors -> Scrapy's download exceptions: the one mapping table.

Scrapy's ``RetryMiddleware`` retries ``DownloadTimeoutError``,
``DownloadConnectionRefusedError``, ``CannotResolveHostError``,
``DownloadFailedError`` and ``ResponseDataLossError``; it does not retry
``DownloadCancelledError``, ``UnsupportedURLSchemeError`` or ``ValueError``
(a bad request or meta value: retrying cannot fix it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)

from .binding.errors import (
    NativeCancelledError,
    NativeConnectionLostError,
    NativeConnectionRefusedError,
    NativeDataLossError,
    NativeDecodingError,
    NativeDNSError,
    NativeError,
    NativeFileError,
    NativeInputError,
    NativeInvalidURLError,
    NativeProtocolError,
    NativeProxyError,
    NativeTimeoutError,
    NativeTLSError,
)

if TYPE_CHECKING:
    from scrapy import Request

__all__ = ["SCRAPY_EXCEPTION_FOR", "cuts_body_short", "scrapy_error_for"]

#: Checked in order; subclasses before their bases.
SCRAPY_EXCEPTION_FOR: tuple[tuple[type[NativeError], type[Exception]], ...] = (
    (NativeTimeoutError, DownloadTimeoutError),
    (NativeConnectionRefusedError, DownloadConnectionRefusedError),
    (NativeDNSError, CannotResolveHostError),
    (NativeDataLossError, ResponseDataLossError),
    (NativeCancelledError, DownloadCancelledError),
    (NativeConnectionLostError, DownloadFailedError),
    (NativeTLSError, DownloadFailedError),
    (NativeProxyError, DownloadFailedError),
    (NativeProtocolError, DownloadFailedError),
    (NativeDecodingError, DownloadFailedError),
    (NativeFileError, DownloadFailedError),
    (NativeInvalidURLError, UnsupportedURLSchemeError),
    (NativeInputError, ValueError),
    (NativeError, DownloadFailedError),
)


def cuts_body_short(error: NativeError) -> bool:
    """A failure while reading the body that ended it early: Scrapy's data
    loss (``ResponseDataLossError``, or the ``dataloss`` flag with
    ``DOWNLOAD_FAIL_ON_DATALOSS`` off), which is what Scrapy's HTTP/1.1
    handler reports for a connection lost mid-body too (measured:
    docs/reliability.rst)."""
    return isinstance(error, (NativeDataLossError, NativeConnectionLostError))


def scrapy_error_for(
    error: NativeError, request: Request, timeout: float, *, before_headers: bool = False
) -> Exception:
    """The Scrapy exception for a native failure of ``request``.

    ``before_headers``: no response head had arrived, so there is no body
    to have lost data of; a connection cut there is a failed download, as
    with Scrapy's handler (the library still says ``dataloss`` for an
    HTTP/1.1 head cut short or an HTTP/2 stream reset before its head)."""
    if before_headers and isinstance(error, NativeDataLossError):
        return DownloadFailedError(f"{error.message} (while downloading {request.url})")
    scrapy_class = next(
        (scrapy for native, scrapy in SCRAPY_EXCEPTION_FOR if isinstance(error, native)), DownloadFailedError
    )
    if scrapy_class is DownloadTimeoutError:
        return DownloadTimeoutError(f"Getting {request.url} took longer than {timeout} seconds.")
    if scrapy_class is UnsupportedURLSchemeError and error.code == "invalid_url":
        return ValueError(f"Invalid URL {request.url!r}: {error.message}")
    return scrapy_class(f"{error.message} (while downloading {request.url})")
