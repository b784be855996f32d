"""The public names of the package, pinned (httpx's test_exported_members):
what a Scrapy project uses at the top, the binding in its own subpackage."""

from __future__ import annotations

import scrapy_tlsclient
import scrapy_tlsclient.binding


def test_exported_names() -> None:
    assert sorted(scrapy_tlsclient.__all__) == [
        "FailoverMiddleware",
        "ResponseStream",
        "SSEConnectionFailed",
        "ServerSentEvent",
        "TLSClientDownloadHandler",
        "TLSClientMiddleware",
        "TLSClientSettingsError",
        "TLSClientStreamMiddleware",
        "TLSFilesPipeline",
        "WebSocket",
        "WebSocketConnectionFailed",
        "WebSocketConnectionLost",
        "WebSocketIdleTimeout",
        "WebSocketMessage",
        "__version__",
        "stream_of",
        "websocket_of",
    ]
    for name in scrapy_tlsclient.__all__:
        assert hasattr(scrapy_tlsclient, name), name


def test_binding_names() -> None:
    assert sorted(scrapy_tlsclient.binding.__all__) == [
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
    for name in scrapy_tlsclient.binding.__all__:
        assert hasattr(scrapy_tlsclient.binding, name), name


def test_the_binding_knows_nothing_of_scrapy() -> None:
    """The layers: the binding imports neither Scrapy, Twisted nor the
    package above it."""
    import ast
    from pathlib import Path

    for path in Path(scrapy_tlsclient.binding.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert node.level <= 1, f"{path.name} imports from the package above: {module}"
                assert not module.startswith(("scrapy", "twisted")), f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("scrapy", "twisted")), (
                        f"{path.name} imports {alias.name}"
                    )
