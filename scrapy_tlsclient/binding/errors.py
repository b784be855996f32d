"""Errors raised by the native binding.

The library reports failures as an envelope with ``status: 0``, the error
text in ``body`` and (in this project's build) an ``errorCode``. This
module turns that into one exception class, in one place::

    NativeError                      any failure reported by the library
    ├── NativeTimeoutError           the deadline passed (timeout)
    ├── NativeConnectionRefusedError connection refused (connection_refused)
    ├── NativeDNSError               host name did not resolve (dns)
    ├── NativeTLSError               handshake, verification, pinning (tls)
    ├── NativeDataLossError          body shorter than announced (dataloss)
    ├── NativeConnectionLostError    connection closed early (connection_lost)
    ├── NativeProxyError             proxy refused or failed (proxy)
    ├── NativeProtocolError          malformed HTTP (protocol)
    ├── NativeDecodingError          content decoding failed (decoding)
    ├── NativeCancelledError         cancelled by cancelStream / destroyAll
    ├── NativeFileError              streamOutputPath could not be written
    └── NativeInputError             the request input was refused
        ├── NativeInvalidURLError    (invalid_url, unsupported_scheme)
        └── UnknownProfileError      (unknown_profile)
    NativeLibraryError               the library cannot be found or loaded
    └── NativeFeatureUnavailable     the loaded library lacks an export

None of them subclasses ``OSError``: Scrapy's ``RETRY_EXCEPTIONS`` contains
``OSError``, and a permanent failure (bad URL, unknown profile) must not be
retried by accident. The Scrapy layer maps these onto Scrapy's exceptions.
"""

from __future__ import annotations

__all__ = [
    "NativeCancelledError",
    "NativeConnectionLostError",
    "NativeConnectionRefusedError",
    "NativeDNSError",
    "NativeDataLossError",
    "NativeDecodingError",
    "NativeError",
    "NativeFeatureUnavailable",
    "NativeFileError",
    "NativeInputError",
    "NativeInvalidURLError",
    "NativeLibraryError",
    "NativeProtocolError",
    "NativeProxyError",
    "NativeTLSError",
    "NativeTimeoutError",
    "UnknownProfileError",
    "classify_native_error",
    "native_error_from",
]


class NativeError(Exception):
    """A failure the native library reported, with its message and code."""

    code = "other"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The call's debug log (requests sent with withDebug).
        self.debug_log: list[str] = []
        if code is not None:
            self.code = code


class NativeTimeoutError(NativeError):
    code = "timeout"


class NativeConnectionRefusedError(NativeError):
    code = "connection_refused"


class NativeDNSError(NativeError):
    code = "dns"


class NativeTLSError(NativeError):
    code = "tls"


class NativeDataLossError(NativeError):
    code = "dataloss"


class NativeConnectionLostError(NativeError):
    code = "connection_lost"


class NativeProxyError(NativeError):
    code = "proxy"


class NativeProtocolError(NativeError):
    code = "protocol"


class NativeDecodingError(NativeError):
    code = "decoding"


class NativeCancelledError(NativeError):
    code = "cancelled"


class NativeFileError(NativeError):
    code = "file"


class NativeInputError(NativeError):
    code = "invalid_input"


class NativeInvalidURLError(NativeInputError):
    code = "invalid_url"


class UnknownProfileError(NativeInputError):
    code = "unknown_profile"


class NativeLibraryError(Exception):
    """The native library cannot be found, loaded or used in this process."""


class NativeFeatureUnavailable(NativeLibraryError):
    """The loaded library lacks an export this call needs."""


_CLASS_BY_CODE: dict[str, type[NativeError]] = {
    "timeout": NativeTimeoutError,
    "connection_refused": NativeConnectionRefusedError,
    "dns": NativeDNSError,
    "tls": NativeTLSError,
    "dataloss": NativeDataLossError,
    "connection_lost": NativeConnectionLostError,
    "proxy": NativeProxyError,
    "protocol": NativeProtocolError,
    "decoding": NativeDecodingError,
    "cancelled": NativeCancelledError,
    "file": NativeFileError,
    "invalid_input": NativeInputError,
    "invalid_url": NativeInvalidURLError,
    "unsupported_scheme": NativeInvalidURLError,
    "unknown_profile": UnknownProfileError,
    "unknown_stream": NativeInputError,
    "unknown_session": NativeInputError,
}

# For libraries without errorCode (stock upstream builds): upstream's
# message shapes, first match wins. Go words a timeout either as "context
# deadline exceeded" or "request canceled", so match both.
_CODE_BY_FRAGMENT: tuple[tuple[str, str], ...] = (
    ("Client.Timeout", "timeout"),
    ("i/o timeout", "timeout"),
    ("deadline exceeded", "timeout"),
    ("connection refused", "connection_refused"),
    ("no such host", "dns"),
    ("dial tcp: lookup", "dns"),
    ("invalid URL scheme", "unsupported_scheme"),
    ("unsupported protocol scheme", "unsupported_scheme"),
    ("failed to create request object", "invalid_url"),
    ("no request url or request method", "invalid_input"),
    ("failed to build client out of request input", "invalid_input"),
    ("cannot unmarshal", "invalid_input"),
    ("looking for beginning", "invalid_input"),
    ("unexpected end of JSON input", "invalid_input"),
    ("Proxy responded with non 200", "proxy"),
    ("proxyconnect", "proxy"),
    ("x509:", "tls"),
    ("tls:", "tls"),
    ("bad ssl pin", "tls"),
    ("unexpected EOF", "dataloss"),
    ("connection reset", "connection_lost"),
    ("broken pipe", "connection_lost"),
    ("malformed HTTP", "protocol"),
    ("gzip:", "decoding"),
    ("flate:", "decoding"),
    ("zlib:", "decoding"),
    ("no such file or directory", "file"),
    ("permission denied", "file"),
)


def classify_native_error(message: str) -> str:
    """Return the error code for an upstream error text (no errorCode)."""
    for fragment, code in _CODE_BY_FRAGMENT:
        if fragment in message:
            return code
    if message == "EOF" or message.endswith(": EOF"):
        return "connection_lost"
    return "other"


def native_error_from(message: str, code: str | None) -> NativeError:
    """Build the exception for an error envelope."""
    resolved = code or classify_native_error(message)
    return _CLASS_BY_CODE.get(resolved, NativeError)(message, resolved)
