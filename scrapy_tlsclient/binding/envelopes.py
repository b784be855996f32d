"""JSON shapes of the native ABI, and pure functions that decode them.

Nothing here calls the library: these functions take the parsed envelope
and return typed values, so they are tested without it.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypedDict

from .errors import NativeError, native_error_from

__all__ = [
    "NativeResponse",
    "RequestInput",
    "StreamRead",
    "TLSDetails",
    "body_from_envelope",
    "headers_from_envelope",
    "raise_for_error",
    "response_from_envelope",
    "stream_read_from_envelope",
]


class RequestInput(TypedDict, total=False):
    """The request input (upstream's RequestInput plus extensions)."""

    requestUrl: str
    requestMethod: str
    requestBody: str | None
    isByteRequest: bool
    isByteResponse: bool
    headers: dict[str, str]
    headerOrder: list[str]
    headersList: list[list[str]]
    http2OnlyHeaders: list[str]
    latin1Headers: bool
    connectHeaders: dict[str, list[str]]
    requestHostOverride: str
    sessionId: str
    tlsClientIdentifier: str
    customTlsClient: dict[str, Any]
    transportOptions: dict[str, Any]
    proxyUrl: str
    isRotatingProxy: bool
    localAddress: str
    serverNameOverwrite: str
    certificatePinningHosts: dict[str, list[str]]
    timeoutSeconds: int
    timeoutMilliseconds: int
    followRedirects: bool
    forceHttp1: bool
    disableHttp3: bool
    withProtocolRacing: bool
    insecureSkipVerify: bool
    disableIPV4: bool
    disableIPV6: bool
    withoutCookieJar: bool
    withCustomCookieJar: bool
    withDebug: bool
    catchPanics: bool
    withRandomTLSExtensionOrder: bool
    streamOutputPath: str
    streamOutputBlockSize: int
    streamOutputEOFSymbol: str
    rawBody: bool
    streamId: str
    withPeerCertificate: bool
    streamBufferChunks: int
    prefetchBytes: int
    prefetchTimeoutMs: int
    binaryBody: bool
    binaryMin: int
    sslKeyLogFile: str


@dataclass(frozen=True)
class TLSDetails:
    """The negotiated TLS connection (project extension)."""

    version: str
    cipher_suite: str
    negotiated_protocol: str
    server_name: str
    peer_certificate_der: bytes | None


@dataclass(frozen=True)
class NativeResponse:
    """A decoded response envelope."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    protocol: str
    url: str
    session_id: str | None = None
    stream_id: str | None = None
    remote_address: str | None = None
    tls: TLSDetails | None = None
    body_bytes: int | None = None
    debug_log: list[str] = field(default_factory=list)
    #: requestStream with prefetchBytes: the body ended within the prefetch
    eof: bool = False
    #: requestStream with prefetchBytes: the body failed after ``body``
    body_error: NativeError | None = None
    #: The body ends when the server closes the connection (HTTP/1.x without
    #: Content-Length or chunks): a cut cannot be told from its end.
    close_delimited: bool = False


@dataclass(frozen=True)
class StreamRead:
    """One readStream answer: data (or, with ``outputPath``, the count of
    bytes the library wrote to the file), the end, or a heartbeat timeout."""

    chunk: bytes = b""
    eof: bool = False
    timeout: bool = False
    written: int = 0


@dataclass(frozen=True)
class WebSocketEvent:
    """One pushWebSocket frame: a message (``binary`` or text, its bytes in
    ``data``), or the end by the peer's close (``closed``, with its code
    and reason). An abrupt end comes as the NativeError of its frame."""

    data: bytes = b""
    binary: bool = False
    closed: bool = False
    close_code: int | None = None
    close_reason: str = ""

    @property
    def eof(self) -> bool:
        """The last event of the socket (the dispatcher forgets it then)."""
        return self.closed


def websocket_event_from_envelope(envelope: dict[str, Any], data: bytes | None = None) -> WebSocketEvent:
    """Turn a pushWebSocket frame into a WebSocketEvent, or raise its error.

    ``data`` is the message's ``chunkBuffer``, taken or from its frame."""
    raise_for_error({"error": envelope.get("error"), "errorCode": envelope.get("errorCode")})
    if envelope.get("closed"):
        code = envelope.get("closeCode")
        return WebSocketEvent(
            closed=True,
            close_code=int(code) if code else None,
            close_reason=str(envelope.get("closeReason") or ""),
        )
    if envelope.get("chunkBuffer") and data is None:
        raise _untaken(envelope, "chunkBuffer")
    return WebSocketEvent(data=data or b"", binary=envelope.get("type") == "binary")


def raise_for_error(envelope: dict[str, Any]) -> None:
    """Raise the NativeError an error envelope describes, if it is one."""
    error = error_from_envelope(envelope)
    if error is not None:
        raise error


def error_from_envelope(envelope: dict[str, Any]) -> NativeError | None:
    if "error" in envelope and envelope.get("error"):
        return native_error_from(str(envelope["error"]), envelope.get("errorCode"))
    if envelope.get("status") == 0:
        error = native_error_from(str(envelope.get("body", "")), envelope.get("errorCode"))
        error.debug_log = list(envelope.get("debugLog") or ())
        return error
    return None


def headers_from_envelope(envelope: dict[str, Any]) -> list[tuple[str, str]]:
    """Flatten ``{"Name": [v1, v2]}`` into ordered (name, value) pairs."""
    pairs: list[tuple[str, str]] = []
    for name, values in (envelope.get("headers") or {}).items():
        if isinstance(values, str):
            pairs.append((name, values))
            continue
        pairs.extend((name, value) for value in values)
    return pairs


def body_from_envelope(body: str) -> bytes:
    """Decode a body: a ``data:<mime>;base64,<payload>`` URL or raw text.

    The MIME type in the data URL is sniffed by Go, not the server's
    Content-Type, so it is ignored.
    """
    if body.startswith("data:"):
        comma = body.find(",")
        if comma < 0:
            raise NativeError(f"malformed data URL body from the native library: {body[:60]!r}")
        return binascii.a2b_base64(body[comma + 1 :])
    return body.encode("utf-8")


def _tls_from(raw: dict[str, Any] | None) -> TLSDetails | None:
    if not raw:
        return None
    return _tls_details(
        raw.get("version", ""),
        raw.get("cipherSuite", ""),
        raw.get("negotiatedProtocol", ""),
        raw.get("serverName", ""),
        raw.get("peerCertificate") or "",
    )


@lru_cache(maxsize=256)
def _tls_details(
    version: str, cipher_suite: str, negotiated_protocol: str, server_name: str, certificate: str
) -> TLSDetails:
    # Remembered: every response of a connection repeats them, and decoding
    # the certificate's base64 costs more than looking it up.
    return TLSDetails(
        version=version,
        cipher_suite=cipher_suite,
        negotiated_protocol=negotiated_protocol,
        server_name=server_name,
        peer_certificate_der=binascii.a2b_base64(certificate) if certificate else None,
    )


def _untaken(envelope: dict[str, Any], key: str) -> NativeError:
    return NativeError(
        f"the envelope names a native buffer ({key}={envelope[key]!r}): take it with "
        "NativeLibrary.take_buffer and pass its bytes to the decoder"
    )


def response_from_envelope(envelope: dict[str, Any], body: bytes | None = None) -> NativeResponse:
    """Turn a response envelope into a NativeResponse, or raise.

    ``body`` is the taken ``bodyBuffer`` of a ``binaryBody`` envelope.
    """
    raise_for_error(envelope)
    if body is None:
        if envelope.get("bodyBuffer"):
            raise _untaken(envelope, "bodyBuffer")
        body = body_from_envelope(envelope.get("body") or "")
    return NativeResponse(
        status=int(envelope["status"]),
        headers=headers_from_envelope(envelope),
        body=body,
        protocol=envelope.get("usedProtocol", ""),
        url=envelope.get("target", ""),
        session_id=envelope.get("sessionId") or None,
        stream_id=envelope.get("streamId") or None,
        remote_address=envelope.get("remoteAddress") or None,
        tls=_tls_from(envelope.get("tls")),
        body_bytes=envelope.get("bodyBytes"),
        debug_log=list(envelope.get("debugLog") or ()),
        eof=bool(envelope.get("eof")),
        close_delimited=bool(envelope.get("closeDelimited")),
        body_error=(
            native_error_from(envelope["bodyError"], envelope.get("bodyErrorCode"))
            if envelope.get("bodyError")
            else None
        ),
    )


def stream_read_from_envelope(envelope: dict[str, Any], chunk: bytes | None = None) -> StreamRead:
    """Turn a readStream answer into a StreamRead, or raise.

    ``chunk`` is the taken ``chunkBuffer`` of a ``binary`` read.
    """
    # Malformed input comes back as a Response-shaped error envelope.
    if envelope.get("status") == 0 and "streamId" not in envelope:
        raise_for_error(envelope)
    raise_for_error({"error": envelope.get("error"), "errorCode": envelope.get("errorCode")})
    if envelope.get("eof"):
        return StreamRead(eof=True)
    if envelope.get("timeout"):
        return StreamRead(timeout=True)
    if chunk is not None:
        return StreamRead(chunk=chunk)
    if envelope.get("written"):
        return StreamRead(written=int(envelope["written"]))
    if envelope.get("chunkBuffer"):
        raise _untaken(envelope, "chunkBuffer")
    return StreamRead(chunk=binascii.a2b_base64(envelope.get("chunk") or ""))
