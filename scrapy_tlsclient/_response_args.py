"""Native response -> the arguments of a Scrapy response (pure)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from scrapy.http.headers import Headers

if TYPE_CHECKING:
    from .binding.envelopes import NativeResponse

__all__ = ["ip_address_from", "protocol_name", "scrapy_headers", "tls_certificate"]

_PROTOCOLS = {"HTTP/1.0": "HTTP/1.0", "HTTP/1.1": "HTTP/1.1", "HTTP/2.0": "HTTP/2", "HTTP/3.0": "HTTP/3"}


def scrapy_headers(native: NativeResponse) -> Headers:
    """Headers with repeated values kept (two Set-Cookie stay two), each
    value the bytes the server sent: the handler asks for Latin-1 text
    (latin1Headers), where each code point is one byte.

    What ``Headers(native.headers)`` gives, normalised the way Headers
    normalises (``str.title()`` names) without its per-value type dispatch:
    every response pays for this."""
    headers = Headers()
    grouped: dict[bytes, list[bytes]] = {}
    for name, value in native.headers:
        key = name.title().encode("latin-1")
        found = grouped.get(key)
        if found is None:
            grouped[key] = [value.encode("latin-1")]
        else:
            found.append(value.encode("latin-1"))
    dict.update(headers, grouped)
    return headers


def protocol_name(used_protocol: str) -> str | None:
    """``HTTP/2.0`` (Go's wording) -> ``HTTP/2``, as Scrapy's httpx handler reports."""
    if not used_protocol:
        return None
    return _PROTOCOLS.get(used_protocol, used_protocol)


@lru_cache(maxsize=1024)
def ip_address_from(remote_address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not remote_address:
        return None
    host = remote_address.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@lru_cache(maxsize=256)
def tls_certificate(der: bytes) -> Any:
    """The peer certificate as Scrapy's HTTP/1.1 handler gives it: a
    ``twisted.internet.ssl.Certificate``. Cached: a connection serves many
    responses with the same certificate."""
    from OpenSSL import crypto
    from twisted.internet.ssl import Certificate

    return Certificate.load(der, crypto.FILETYPE_ASN1)
