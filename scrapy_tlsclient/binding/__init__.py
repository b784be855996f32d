"""The Python binding of this project's tls-client library: it knows the
library's ABI (docs/abi.rst) and nothing of Scrapy. The download handler is
built on it; it can be used on its own (docs/binding.rst)."""

from __future__ import annotations

from .envelopes import NativeResponse, RequestInput, StreamRead, TLSDetails, WebSocketEvent
from .errors import (
    NativeCancelledError,
    NativeConnectionLostError,
    NativeConnectionRefusedError,
    NativeDataLossError,
    NativeDecodingError,
    NativeDNSError,
    NativeError,
    NativeFeatureUnavailable,
    NativeFileError,
    NativeInputError,
    NativeInvalidURLError,
    NativeLibraryError,
    NativeProtocolError,
    NativeProxyError,
    NativeTimeoutError,
    NativeTLSError,
    UnknownProfileError,
)
from .library import LibraryInfo, NativeLibrary, get_library, load_library
from .memory import BodyMemory, BodyPieces

__all__ = [
    "BodyMemory",
    "BodyPieces",
    "LibraryInfo",
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
    "NativeLibrary",
    "NativeLibraryError",
    "NativeProtocolError",
    "NativeProxyError",
    "NativeResponse",
    "NativeTLSError",
    "NativeTimeoutError",
    "RequestInput",
    "StreamRead",
    "TLSDetails",
    "UnknownProfileError",
    "WebSocketEvent",
    "get_library",
    "load_library",
]
