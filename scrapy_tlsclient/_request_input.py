"""Scrapy Request + config -> the native RequestInput (pure, no I/O).

This is the one place that maps a request's meta keys and the settings to
what the native library receives, and derives the key of the native
session (client) the request may share.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from ._config import HandlerConfig, bind_address_from_meta
from ._profiles import check_profile

if TYPE_CHECKING:
    from collections.abc import Collection

    from scrapy import Request
    from scrapy.http.headers import Headers

    from ._envelopes import RequestInput

__all__ = ["NativeCall", "header_pairs", "request_input_from", "session_key"]

#: Proxy schemes tls-client dials (connect.go); http(s) proxies use CONNECT.
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")

#: RequestInput fields that vary per call; every other field fixes the
#: native client, so it is part of the session key.
_PER_CALL_FIELDS = frozenset(
    {
        "requestUrl",
        "requestMethod",
        "requestBody",
        "isByteRequest",
        "headersList",
        "streamId",
        "timeoutMilliseconds",
        "prefetchBytes",
        "prefetchTimeoutMs",
        "streamOutputPath",
        "streamOutputBlockSize",
        "streamBufferChunks",
        "withDebug",
    }
)


@dataclass(frozen=True)
class NativeCall:
    """What the handler sends for one request."""

    request_input: RequestInput
    session_key: str
    timeout: float


def request_input_from(
    request: Request, config: HandlerConfig, *, stream_id: str, profiles: Collection[str] = ()
) -> NativeCall:
    """Build the native input for ``request``; raise ValueError on bad meta.

    ``profiles`` are the profile names the loaded library has; the
    ``tls_client_profile`` meta key is checked against them.
    """
    timeout = float(request.meta.get("download_timeout") or config.download_timeout)
    no_deadline = _bool_meta(request, "tls_client_no_deadline", False)
    request_input: RequestInput = {
        "requestUrl": request.url,
        "requestMethod": request.method,
        "headersList": header_pairs(request.headers),
        # Scrapy owns cookies, redirects and decompression.
        "withoutCookieJar": True,
        "followRedirects": False,
        "rawBody": True,
        "isByteResponse": True,
        "insecureSkipVerify": not config.verify_certificates,
        "withPeerCertificate": True,
        "streamId": stream_id,
        # A negative value is the library's "no deadline" (long streams).
        "timeoutMilliseconds": -1 if no_deadline else max(1, round(timeout * 1000)),
        # Go keeps only 2 idle connections per host by default, and dials
        # a new one whenever none is idle at that instant; both churn TLS
        # handshakes. Scrapy never has more than CONCURRENT_REQUESTS in
        # flight, so capping connections there costs no concurrency.
        "transportOptions": {
            "maxIdleConnsPerHost": config.concurrent_requests,
            "maxConnsPerHost": config.concurrent_requests,
        },
    }
    if "tls_client_profile" in request.meta:
        request_input["tlsClientIdentifier"] = check_profile(
            request.meta["tls_client_profile"], profiles, "The 'tls_client_profile' request meta key"
        )
    elif config.profile is not None:
        request_input["tlsClientIdentifier"] = config.profile
    if _bool_meta(request, "tls_client_force_http1", config.force_http1):
        request_input["forceHttp1"] = True
    if not _bool_meta(request, "tls_client_http3", config.http3):
        request_input["disableHttp3"] = True
    if _bool_meta(request, "tls_client_debug", config.debug):
        # A debug call gets a client of its own, so its log is this request's.
        request_input["withDebug"] = True
    if request.body:
        request_input["requestBody"] = base64.b64encode(request.body).decode("ascii")
        request_input["isByteRequest"] = True
    bind_address = config.bind_address
    if "bindaddress" in request.meta:
        bind_address = bind_address_from_meta(request.meta["bindaddress"])
    if bind_address is not None:
        host, port = bind_address
        request_input["localAddress"] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _add_proxy(request_input, request, config.proxy_auth_encoding)
    identity = request.meta.get("tls_client_session", "")
    if not isinstance(identity, str):
        raise ValueError(f"The 'tls_client_session' request meta key must be a string, got {identity!r}")
    return NativeCall(request_input, session_key(request_input, identity), timeout)


def _bool_meta(request: Request, key: str, default: bool) -> bool:
    value = request.meta.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"The {key!r} request meta key must be True or False, got {value!r}")
    return value


def header_pairs(headers: Headers) -> list[list[str]]:
    """Request headers as ordered [name, value] pairs, Proxy-Authorization
    removed (it goes to the proxy only) and ``None`` values dropped."""
    pairs: list[list[str]] = []
    for name, values in headers.items():
        if name.lower() == b"proxy-authorization":
            continue
        text_name = name.decode("latin-1")
        pairs.extend([text_name, _header_text(value)] for value in values if value is not None)
    return pairs


def _header_text(value: bytes) -> str:
    # Values cross the ABI as JSON text. UTF-8 (what Scrapy encodes str
    # values to) round-trips exactly; other bytes are sent as Latin-1 text.
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _add_proxy(request_input: RequestInput, request: Request, auth_encoding: str) -> None:
    proxy = request.meta.get("proxy")
    if not proxy:
        return
    if not isinstance(proxy, str):
        raise ValueError(f"The 'proxy' request meta key must be a URL string, got {proxy!r}")
    if "://" not in proxy:
        proxy = "http://" + proxy
    parts = urlsplit(proxy)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"Unsupported proxy scheme {scheme!r} in the 'proxy' request meta key ({proxy!r}); "
            f"accepted: {', '.join(PROXY_SCHEMES)}"
        )
    auth = request.headers.get(b"Proxy-Authorization")
    if auth and scheme in ("http", "https"):
        # Sent on the CONNECT request only, never to the target.
        request_input["connectHeaders"] = {"Proxy-Authorization": [auth.decode("latin-1")]}
    elif auth:
        user, password = _basic_credentials(auth, auth_encoding)
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        proxy = parts._replace(netloc=netloc).geturl()
    request_input["proxyUrl"] = proxy


def _basic_credentials(header: bytes, encoding: str) -> tuple[str, str]:
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"basic":
        raise ValueError("SOCKS proxies take Basic credentials only (Proxy-Authorization: Basic ...)")
    try:
        user, _, password = base64.b64decode(token, validate=True).decode(encoding).partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"Malformed Proxy-Authorization header for a SOCKS proxy: {exc}") from None
    return user, password


def session_key(request_input: RequestInput, identity: str = "") -> str:
    """A digest of every option that fixes a native client, and of the
    caller's identity name (requests of different identities never share a
    client, so never a connection or TLS session ticket).

    HTTP(S) proxies need the deadline in the key: their CONNECT step only
    honours the client's own timeout (docs/abi.rst).
    """
    fixed = {key: value for key, value in request_input.items() if key not in _PER_CALL_FIELDS}
    if str(request_input.get("proxyUrl", "")).lower().startswith(("http://", "https://")):
        fixed["timeoutMilliseconds"] = request_input.get("timeoutMilliseconds")
    canonical = json.dumps([fixed, identity], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]
