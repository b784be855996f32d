"""The public names of the package, pinned (httpx's test_exported_members)."""

from __future__ import annotations

import scrapy_tlsclient


def test_exported_names() -> None:
    assert sorted(scrapy_tlsclient.__all__) == [
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
    for name in scrapy_tlsclient.__all__:
        assert hasattr(scrapy_tlsclient, name), name
