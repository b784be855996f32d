"""scrapy-tlsclient: a Scrapy download handler over bogdanfinn/tls-client.

What a Scrapy project uses is here; the binding to the native library, which
knows nothing of Scrapy, is ``scrapy_tlsclient.binding``."""

from __future__ import annotations

from ._config import TLSClientSettingsError
from ._version import __version__
from .failover import FailoverMiddleware
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
from .websocket import (
    WebSocket,
    WebSocketConnectionFailed,
    WebSocketConnectionLost,
    WebSocketIdleTimeout,
    WebSocketMessage,
    websocket_of,
)

__all__ = [
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
