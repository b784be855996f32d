"""scrapy-tlsclient: a Scrapy download handler over bogdanfinn/tls-client."""

from __future__ import annotations

from ._config import TLSClientSettingsError
from ._envelopes import NativeResponse, RequestInput, StreamRead, TLSDetails
from ._errors import (
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
from ._native import LibraryInfo, NativeLibrary, get_library, load_library
from ._version import __version__
from .handler import TLSClientDownloadHandler
from .middleware import TLSClientMiddleware
from .pipelines import TLSFilesPipeline
from .streaming import (
    ResponseStream,
    ServerSentEvent,
    SSEConnectionFailed,
    TLSClientStreamMiddleware,
    stream_of,
)

__all__ = [
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
    "ResponseStream",
    "SSEConnectionFailed",
    "ServerSentEvent",
    "StreamRead",
    "TLSClientDownloadHandler",
    "TLSClientMiddleware",
    "TLSClientSettingsError",
    "TLSClientStreamMiddleware",
    "TLSDetails",
    "TLSFilesPipeline",
    "UnknownProfileError",
    "__version__",
    "get_library",
    "load_library",
    "stream_of",
]
