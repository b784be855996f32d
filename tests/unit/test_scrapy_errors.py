"""The native -> Scrapy exception table, a test per row."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)

from scrapy_tlsclient._scrapy_errors import SCRAPY_EXCEPTION_FOR, scrapy_error_for
from scrapy_tlsclient.binding import errors as native

REQUEST = Request("https://example.com/page")

ROWS = [
    (native.NativeTimeoutError("Client.Timeout exceeded"), DownloadTimeoutError),
    (native.NativeConnectionRefusedError("connect: connection refused"), DownloadConnectionRefusedError),
    (native.NativeDNSError("no such host"), CannotResolveHostError),
    (native.NativeDataLossError("unexpected EOF"), ResponseDataLossError),
    (native.NativeCancelledError("request cancelled"), DownloadCancelledError),
    (native.NativeConnectionLostError("EOF"), DownloadFailedError),
    (native.NativeTLSError("x509: certificate signed by unknown authority"), DownloadFailedError),
    (native.NativeProxyError("Proxy responded with non 200 code: 407"), DownloadFailedError),
    (native.NativeProtocolError("malformed HTTP status code"), DownloadFailedError),
    (native.NativeDecodingError("gzip: invalid header"), DownloadFailedError),
    (native.NativeFileError("permission denied"), DownloadFailedError),
    (
        native.NativeInvalidURLError("invalid URL scheme: [ftp]", "unsupported_scheme"),
        UnsupportedURLSchemeError,
    ),
    (native.NativeInvalidURLError("failed to create request object", "invalid_url"), ValueError),
    (native.NativeInputError("no request url"), ValueError),
    (native.UnknownProfileError("unknown tlsClientIdentifier"), ValueError),
    (native.NativeError("something new", "brand_new"), DownloadFailedError),
]


@pytest.mark.parametrize(("error", "expected"), ROWS, ids=[type(e).__name__ + ":" + e.code for e, _ in ROWS])
def test_row(error: native.NativeError, expected: type[Exception]) -> None:
    mapped = scrapy_error_for(error, REQUEST, 7.5)
    assert type(mapped) is expected
    assert not isinstance(mapped, OSError) or expected is OSError


def test_timeout_message_is_scrapys() -> None:
    mapped = scrapy_error_for(native.NativeTimeoutError("x"), REQUEST, 7.5)
    assert str(mapped) == "Getting https://example.com/page took longer than 7.5 seconds."


def test_every_native_class_has_a_row() -> None:
    classes = {cls for cls, _ in SCRAPY_EXCEPTION_FOR}
    for name in native.__all__:
        obj = getattr(native, name)
        if isinstance(obj, type) and issubclass(obj, native.NativeError):
            assert any(issubclass(obj, cls) for cls in classes), name
