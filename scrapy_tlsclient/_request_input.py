"""Scrapy Request + config -> the native RequestInput (pure, no I/O).

This is the one place that maps a request's meta keys and the settings to
what the native library receives, and derives the key of the native
session (client) the request may share.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, urlsplit

from scrapy.http.headers import Headers
from scrapy.utils.httpobj import urlparse_cached

from ._browsers import browser_for, handshake_order, request_kind
from ._config import HandlerConfig, bind_address_from_meta
from ._failover_settings import check_failover_meta
from ._profiles import check_profile
from ._tail_hash import HASH_ALGORITHMS
from ._tls_options import certificate_pins, custom_tls, header_order, server_name

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

    from scrapy import Request

    from ._browsers import Browser
    from .binding.envelopes import RequestInput

__all__ = [
    "CLIENT_META_KEYS",
    "LONGEST_DEADLINE",
    "META_KEYS",
    "ClientOptionsCache",
    "HeaderLines",
    "NativeCall",
    "check_serialisable_meta",
    "client_options",
    "header_pairs",
    "request_input_from",
    "session_key",
]

#: The request meta keys of this package (docs/meta.rst), each with whether
#: it fixes the native client. Those that do are read by client_options,
#: so they make the session key and the shapes ClientOptionsCache keeps
#: (test_request_input checks that client_options reads exactly these).
#: Any other ``tls_client_*`` key is refused as a likely typo.
_META_KEY_FIXES_CLIENT = {
    "tls_client_profile": True,
    "tls_client_custom_tls": True,
    "tls_client_random_tls_extension_order": True,
    "tls_client_header_order": False,
    "tls_client_browser_headers": False,
    "tls_client_server_name": True,
    "tls_client_certificate_pins": True,
    "tls_client_session": True,
    "tls_client_force_http1": True,
    "tls_client_http3": True,
    "tls_client_no_deadline": False,
    "tls_client_debug": False,
    "tls_client_stream": False,
    "tls_client_request_kind": False,
    # Read by FailoverMiddleware, which sets the profile and session itself.
    "tls_client_failover": False,
    "tls_client_identity": False,
    # Read by the handler for body_file downloads (_resuming, _tail_hash).
    "tls_client_resume": False,
    "tls_client_body_file_hash": False,
    "tls_client_body_file_label": False,
    # Set by the handler when a body_file is stored (docs/meta.rst).
    "tls_client_body_file_attempts": False,
    "tls_client_body_file_resumed_bytes": False,
    "tls_client_body_file_digest": False,
}
META_KEYS = frozenset(_META_KEY_FIXES_CLIENT)
#: The meta keys client_options reads, besides ``proxy`` (whose options
#: also depend on the request's headers): this package's that fix the
#: client, and Scrapy's ``bindaddress``.
CLIENT_META_KEYS = (*(key for key, fixes in _META_KEY_FIXES_CLIENT.items() if fixes), "bindaddress")

#: The longest deadline kept (100 years): Go counts deadlines in int64
#: nanoseconds, which overflow past about 292 years, so a longer
#: download_timeout is no deadline at all.
LONGEST_DEADLINE = 100 * 365 * 24 * 3600.0

#: Proxy schemes tls-client dials (connect.go); http(s) proxies use CONNECT.
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")


#: requestStream also waits this long for the first body bytes, so a small
#: page costs one native call (docs/abi.rst, prefetchBytes).
PREFETCH_BYTES = 64 * 1024
PREFETCH_TIMEOUT_MS = 100
#: A body_file download buffers up to this many 64 KiB blocks in the
#: library (2 MiB instead of 1), so the network keeps flowing while a write
#: or a read's answer is under way. A 4 MiB buffer grew the files-pipeline
#: test's peak RSS from 28-43 MiB to 58-65 MiB (Go's heap at 1 GB/s of block
#: churn), against its 64 MiB bound.
FILE_BUFFER_BLOCKS = 32
#: A body streamed to the spider keeps this many reads in the library at
#: most (docs/streaming.rst, "Backpressure"): with the push credit, what
#: a paused stream holds. Other bodies over 1 MiB or of unknown length
#: get a deeper read-ahead (streams.go).
STREAM_BUFFER_READS = 16


@dataclass(frozen=True)
class NativeCall:
    """What the handler sends for one request."""

    #: Everything but the session id, which the handler's session pool gives.
    request_input: RequestInput
    session_key: str
    timeout: float
    #: The spider reads the body (``tls_client_stream``): the handler
    #: enforces the deadline until the headers only.
    stream: bool = False
    #: The request body, sent beside the input as raw bytes.
    body: bytes = b""

    def on_session(self, session_id: str) -> RequestInput:
        """The input to send, on the native session ``session_id``."""
        return {**self.request_input, "sessionId": session_id}


def request_input_from(
    request: Request,
    config: HandlerConfig,
    *,
    stream_id: str,
    profiles: Collection[str] = (),
    clients: ClientOptionsCache | None = None,
) -> NativeCall:
    """Build the native input for ``request``; raise ValueError on bad meta.

    ``profiles`` are the profile names the loaded library has; the
    ``tls_client_profile`` meta key is checked against them. ``clients``
    (made for the same config and profiles) remembers the client options
    of recent meta shapes, so that a crawl's thousandth request does not
    map and digest them again.
    """
    meta = request.meta
    _check_meta_keys(meta)
    _check_target(request, clients.good_netlocs if clients is not None else None)
    timeout = _timeout(meta.get("download_timeout"), config.download_timeout)
    _check_scrapy_meta(meta)
    no_deadline = _bool_meta(request, "tls_client_no_deadline", False)
    stream = _bool_meta(request, "tls_client_stream", False)
    if stream and meta.get("body_file") is not None:
        raise ValueError(
            "The 'tls_client_stream' and 'body_file' request meta keys exclude each other: a streamed body "
            "goes to the spider, a body_file body to the file"
        )
    # A negative value is the library's "no deadline" (long streams, and
    # deadlines longer than it can count). The handler times a stream's
    # headers itself: its body may be endless.
    endless = no_deadline or stream or timeout > LONGEST_DEADLINE
    timeout_ms = -1 if endless else max(1, round(timeout * 1000))
    if clients is not None and clients.serves(config, profiles):
        options, key = clients.options_for(request, stream, timeout_ms)
    else:
        options, key = client_options(request, config, profiles, stream=stream, timeout_ms=timeout_ms)
    wire = _dressing(request, options, config)
    request_input: RequestInput = {
        **options,
        "requestUrl": request.url,
        "requestMethod": request.method,
        "headersList": header_pairs(
            request.headers,
            _header_order(request),
            wire.http1_keys if wire else None,
            clients.header_lines if clients is not None else None,
        ),
        "streamId": stream_id,
        "timeoutMilliseconds": timeout_ms,
        "latin1Headers": True,
    }
    if wire is not None and wire.http2_only:
        request_input["http2OnlyHeaders"] = list(wire.http2_only)
    if wire is not None and urlsplit(request.url).scheme.lower() in ("ws", "wss"):
        # The headers the websocket library writes go where the browser
        # writes them (docs/websocket.rst, "What the handshake looks like").
        names = [name.lower() for name, _ in request_input["headersList"]]
        request_input["headerOrder"] = handshake_order(wire, names)
    if not stream:
        # A streamed response goes to the spider at its headers: waiting for
        # body bytes would delay its first events.
        request_input["prefetchBytes"] = PREFETCH_BYTES
        request_input["prefetchTimeoutMs"] = PREFETCH_TIMEOUT_MS
    if meta.get("body_file") is not None:
        request_input["streamBufferChunks"] = FILE_BUFFER_BLOCKS
    elif stream:
        request_input["streamBufferChunks"] = STREAM_BUFFER_READS
    # Read by the middleware; checked here too so a bad value fails the
    # request even where the middleware is not enabled.
    _bool_meta(request, "tls_client_browser_headers", config.browser_headers)
    if "tls_client_request_kind" in meta:
        request_kind(request)
    check_failover_meta(meta)
    _bool_meta(request, "tls_client_resume", config.resume)  # read by the handler (_resuming)
    for output in ("tls_client_body_file_attempts", "tls_client_body_file_resumed_bytes"):
        _check_count(
            meta, output, "is set by the handler when a body_file is stored: 0 or a positive integer"
        )
    algorithm = meta.get("tls_client_body_file_hash")
    if algorithm is not None and algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            "The 'tls_client_body_file_hash' request meta key must be one of "
            f"{', '.join(sorted(HASH_ALGORITHMS))}, got {algorithm!r}"
        )
    label = meta.get("tls_client_body_file_label")
    if label is not None and not isinstance(label, str):
        raise ValueError(
            f"The 'tls_client_body_file_label' request meta key must be a string (what progress lines call "
            f"the file), got {label!r}"
        )
    digest = meta.get("tls_client_body_file_digest")
    if digest is not None and not isinstance(digest, str):
        raise ValueError(
            f"The 'tls_client_body_file_digest' request meta key is set by the handler when a body_file is "
            f"stored: a hex digest string, got {digest!r}"
        )
    if _bool_meta(request, "tls_client_debug", config.debug):
        # A debug call gets a client of its own, so its log is this request's.
        request_input["withDebug"] = True
    return NativeCall(request_input, key, timeout, stream, request.body)


def client_options(
    request: Request, config: HandlerConfig, profiles: Collection[str], *, stream: bool, timeout_ms: int
) -> tuple[RequestInput, str]:
    """The RequestInput fields that fix the native client (everything but
    the per-call fields), and the session key they make."""
    meta = request.meta
    options: RequestInput = {
        # Scrapy owns cookies, redirects and decompression.
        "withoutCookieJar": True,
        "followRedirects": False,
        "rawBody": True,
        "isByteResponse": True,
        "insecureSkipVerify": not config.verify_certificates,
        "withPeerCertificate": True,
        # Always sent: "" keeps the library from falling back on the
        # SSLKEYLOGFILE it was loaded with.
        "sslKeyLogFile": config.ssl_key_log_file or "",
        # Go keeps only 2 idle connections per host by default, and dials
        # a new one whenever none is idle at that instant; both churn TLS
        # handshakes. Scrapy never has more than CONCURRENT_REQUESTS in
        # flight, so capping connections there costs no concurrency.
        # Streams handed to spiders no longer count against
        # CONCURRENT_REQUESTS, so they get a client without that cap: an
        # endless HTTP/1.1 stream must not hold a connection ordinary
        # requests wait for.
        "transportOptions": {
            "maxIdleConnsPerHost": config.concurrent_requests,
            "maxConnsPerHost": 0 if stream else config.concurrent_requests,
        },
    }
    _add_fingerprint(options, request, config, profiles)
    if _bool_meta(request, "tls_client_force_http1", config.force_http1):
        options["forceHttp1"] = True
    if not _bool_meta(request, "tls_client_http3", config.http3):
        options["disableHttp3"] = True
    bind_address = config.bind_address
    if "bindaddress" in meta:
        bind_address = bind_address_from_meta(meta["bindaddress"])
    if bind_address is not None:
        host, port = bind_address
        options["localAddress"] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _add_proxy(options, request, config.proxy_auth_encoding)
    identity = meta.get("tls_client_session", "")
    if not isinstance(identity, str) or ("tls_client_session" in meta and not identity):
        raise ValueError(
            f"The 'tls_client_session' request meta key must be a non-empty name string, got {identity!r}"
        )
    return options, session_key(options, identity, timeout_ms)


_CLIENT_META_KEY_SET = frozenset(CLIENT_META_KEYS)
_ABSENT = object()
#: Meta values a remembered shape may hold: equal values of these types are
#: the same value (unlike 1 == True == 1.0, which validation tells apart).
_SCALARS = (str, bool, type(None))


class ClientOptionsCache:
    """client_options for recent meta shapes: the values of the meta keys it
    reads, when they are all strings, booleans or None and no proxy is set
    (a proxy's options also depend on headers and the deadline). A crawl
    usually has a handful of shapes, often one."""

    #: Shapes kept; when full, the next new shape starts the cache over.
    MAX_SHAPES = 256

    def __init__(self, config: HandlerConfig, profiles: Collection[str]) -> None:
        self._config = config
        self._profiles = profiles
        self._options: dict[tuple[object, ...], tuple[RequestInput, str]] = {}
        #: Netlocs that passed the target check (_check_target).
        self.good_netlocs: set[str] = set()
        self.header_lines = HeaderLines()

    def serves(self, config: HandlerConfig, profiles: Collection[str]) -> bool:
        return config is self._config and profiles is self._profiles

    def options_for(self, request: Request, stream: bool, timeout_ms: int) -> tuple[RequestInput, str]:
        shape = self._shape(request.meta, stream)
        found = self._options.get(shape) if shape is not None else None
        if found is None:
            found = client_options(
                request, self._config, self._profiles, stream=stream, timeout_ms=timeout_ms
            )
            if shape is None:
                return found
            if len(self._options) >= self.MAX_SHAPES:
                self._options.clear()
            self._options[shape] = found
        return found

    @staticmethod
    def _shape(meta: Mapping[str, object], stream: bool) -> tuple[object, ...] | None:
        if meta.get("proxy"):
            return None
        if meta.keys().isdisjoint(_CLIENT_META_KEY_SET):  # the usual request
            return (stream,)
        shape: list[object] = [stream]
        for key in CLIENT_META_KEYS:
            value = meta.get(key, _ABSENT)
            if value is not _ABSENT and type(value) not in _SCALARS:
                return None
            shape.append(value)
            shape.append(type(value))
        return tuple(shape)


def _timeout(value: object, default: float) -> float:
    """Scrapy's ``download_timeout``: seconds; 0 or None means the
    DOWNLOAD_TIMEOUT setting, as in Scrapy's own handler."""
    if value is None or value == 0:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(
            f"The 'download_timeout' request meta key must be a positive number of seconds, got {value!r} "
            "(for no deadline at all, set 'tls_client_no_deadline': True)"
        )
    return float(value)


def _check_target(request: Request, good_netlocs: set[str] | None = None) -> None:
    """Refuse, before anything is sent, what the library would mishandle: no
    host (Go would dial this machine), or credentials (Go would send them as
    an Authorization header; Scrapy's HTTP/1.1 handler refuses them too).
    ``good_netlocs`` remembers the netlocs that passed (the check depends on
    the netloc only, and a crawl sends many requests to each host)."""
    url = request.url
    try:
        # Scrapy's parse, cached per request (its middlewares parse it too).
        parts = urlparse_cached(request)
        if good_netlocs is not None and parts.netloc in good_netlocs:
            return
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"Invalid URL {redacted(url)!r}: {exc}") from None
    if "@" in parts.netloc:
        raise ValueError(
            f"Invalid URL {redacted(url)!r}: credentials in a URL are not sent; use HttpAuthMiddleware "
            "(the http_auth_domain, http_user and http_pass spider attributes) or an Authorization header"
        )
    if not _is_host(host):
        raise ValueError(f"Invalid URL {url!r}: invalid hostname: {host!r}")
    if good_netlocs is not None:
        if len(good_netlocs) >= _MAX_GOOD_NETLOCS:
            good_netlocs.clear()
        good_netlocs.add(parts.netloc)


_MAX_GOOD_NETLOCS = 4096


#: RFC 3986 reg-name: these characters and %XX escapes (Scrapy
#: IDNA-encodes non-ASCII host names).
_REG_NAME = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+")


def _is_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return False
        return True
    return bool(_REG_NAME.fullmatch(host))


def redacted(url: str) -> str:
    """``url`` with any credentials replaced, for messages."""
    return re.sub(r"//[^/?#@]*@", "//***@", url, count=1)


def _check_count(meta: Mapping[str, object], key: str, accepted: str) -> None:
    """A meta key that is absent or a whole number from 0; ``accepted``
    says so in the error."""
    value = meta.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"The {key!r} request meta key {accepted}, got {value!r}")


def _check_scrapy_meta(meta: Mapping[str, object]) -> None:
    """Scrapy's own keys the handler reads after the headers arrive, checked
    before anything is sent."""
    for key in ("download_maxsize", "download_warnsize"):
        _check_count(meta, key, "must be 0 (no limit) or a positive number of bytes")
    value = meta.get("download_fail_on_dataloss")
    if value is not None and not isinstance(value, bool):
        raise ValueError(
            f"The 'download_fail_on_dataloss' request meta key must be True or False, got {value!r}"
        )


def _check_meta_keys(meta: Mapping[str, object]) -> None:
    """A misspelt key would silently leave a fingerprint option unset."""
    for key in meta:
        if isinstance(key, str) and key.startswith("tls_client_") and key not in META_KEYS:
            close = difflib.get_close_matches(key, sorted(META_KEYS), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"Unknown request meta key {key!r}.{hint} This package reads: {', '.join(sorted(META_KEYS))}"
            )
    check_serialisable_meta(meta)


#: Nesting deeper than this in a tls_client_* value is refused (and a
#: self-containing value cannot recurse forever).
_MAX_META_DEPTH = 16


def check_serialisable_meta(meta: Mapping[str, object]) -> None:
    """Refuse ``tls_client_*`` values that would not survive request
    serialisation, which Scrapy's JOBDIR disk queues (pickle) and
    scrapy-redis (pickle or JSON) apply to every scheduled request: plain
    JSON values only. The handler runs this when a request is scheduled,
    before any queue sees it."""
    for key, value in meta.items():
        if isinstance(key, str) and key.startswith("tls_client_"):
            problem = _not_plain(value, _MAX_META_DEPTH)
            if problem is not None:
                raise ValueError(
                    f"The {key!r} request meta key holds {problem}; tls_client_* values must be plain "
                    "JSON values (str, int, float, bool, None, lists/tuples and dicts with str keys) so "
                    "that the request survives serialisation (JOBDIR, scrapy-redis)"
                )


def _not_plain(value: object, depth: int) -> str | None:
    """What in ``value`` is not a plain JSON value, or None."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if depth <= 0:
        return f"values nested more than {_MAX_META_DEPTH} deep"
    if isinstance(value, (list, tuple)):
        items: Iterable[object] = value
    elif type(value) is dict:
        if not all(isinstance(name, str) for name in value):
            return "a dict with a key that is not a str"
        items = value.values()
    else:
        return f"a {type(value).__module__}.{type(value).__qualname__}"
    for item in items:
        problem = _not_plain(item, depth - 1)
        if problem is not None:
            return problem
    return None


def _add_fingerprint(
    request_input: RequestInput, request: Request, config: HandlerConfig, profiles: Collection[str]
) -> None:
    """The browser profile or custom TLS spec, and the options that change
    how it looks on the wire."""
    meta = request.meta
    profile, custom = config.profile, config.custom_tls
    if "tls_client_custom_tls" in meta:
        if "tls_client_profile" in meta:
            raise ValueError(
                "The 'tls_client_profile' and 'tls_client_custom_tls' request meta keys exclude each other: "
                "a custom TLS spec replaces the profile"
            )
        custom = custom_tls(meta["tls_client_custom_tls"], "The 'tls_client_custom_tls' request meta key")
    elif "tls_client_profile" in meta:
        profile = check_profile(
            meta["tls_client_profile"], profiles, "The 'tls_client_profile' request meta key"
        )
        custom = None
    if custom is not None:
        request_input["customTlsClient"] = custom
    elif profile is not None:
        request_input["tlsClientIdentifier"] = profile
    random_order = meta.get("tls_client_random_tls_extension_order", config.random_extension_order)
    if random_order is None:
        # As the browser does: Chromium shuffles its extensions per connection.
        browser = browser_for(profile) if custom is None and profile else None
        random_order = browser is not None and browser.shuffle_extensions
    if not isinstance(random_order, bool):
        raise ValueError(
            "The 'tls_client_random_tls_extension_order' request meta key must be True, False or None "
            f"(as the profile's browser does), got {random_order!r}"
        )
    if random_order:
        request_input["withRandomTLSExtensionOrder"] = True
    if "tls_client_server_name" in meta:
        request_input["serverNameOverwrite"] = server_name(
            meta["tls_client_server_name"], "The 'tls_client_server_name' request meta key"
        )
    pins = config.certificate_pins
    if "tls_client_certificate_pins" in meta:
        pins = certificate_pins(
            meta["tls_client_certificate_pins"], "The 'tls_client_certificate_pins' request meta key"
        )
    if pins:
        if not config.verify_certificates:
            # tls-client refuses pins on a client that skips verification.
            raise ValueError(
                "Certificate pins (tls_client_certificate_pins / TLS_CLIENT_CERTIFICATE_PINS) need "
                "DOWNLOAD_VERIFY_CERTIFICATES = True: tls-client checks pins only on verified connections"
            )
        request_input["certificatePinningHosts"] = pins


def _header_order(request: Request) -> list[str] | None:
    if "tls_client_header_order" not in request.meta:
        return None
    return header_order(
        request.meta["tls_client_header_order"], "The 'tls_client_header_order' request meta key"
    )


def _bool_meta(request: Request, key: str, default: bool) -> bool:
    value = request.meta.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"The {key!r} request meta key must be True or False, got {value!r}")
    return value


def _dressing(request: Request, options: Mapping[str, object], config: HandlerConfig) -> Browser | None:
    """The browser identity whose wire conventions the request follows
    when browser headers are on: how it writes header names over HTTP/1.1
    (Scrapy's Headers title-cases every name; Chrome writes ``sec-ch-ua``
    in lowercase) and which headers it sends over HTTP/2 only."""
    profile = options.get("tlsClientIdentifier")
    if (
        not isinstance(profile, str)
        or not profile
        or not request.meta.get("tls_client_browser_headers", config.browser_headers)
    ):
        return None
    browser = browser_for(profile)
    return browser if browser is not None and browser.identity is not None else None


def header_pairs(
    headers: Headers,
    order: Sequence[str] | None = None,
    wire_names: Mapping[bytes, str] | None = None,
    known: HeaderLines | None = None,
) -> list[list[str]]:
    """Request headers as ordered [name, value] pairs, Proxy-Authorization
    removed (it goes to the proxy only) and ``None`` values dropped; names
    in ``order`` (lowercase) first, in that order; with ``wire_names``
    (the name as Headers stores it -> as the browser writes it), names
    written as that browser writes them. ``known`` remembers the header
    lines already checked and converted (a crawl repeats a few dozen).
    """
    # Scrapy's Headers stores normalised names and lists of bytes values,
    # which its items() looks up again name by name: read them directly.
    items: Iterable[tuple[bytes, list[bytes]]] = (
        dict.items(headers) if type(headers) is Headers else headers.items()
    )
    line = known.line if known is not None else header_line
    lines = [line(name, values) for name, values in items]
    if order:
        rank = _ranks(tuple(order))
        lines.sort(key=lambda found: rank.get(found.lower, len(rank)))
    pairs: list[list[str]] = []
    for found in lines:
        if found.lower == "proxy-authorization":
            continue
        text_name = (wire_names.get(found.name) if wire_names is not None else None) or found.text_name
        pairs.extend([text_name, value] for value in found.values)
    return pairs


class HeaderLine(NamedTuple):
    """One request header, checked, as the library takes it."""

    #: As Headers stores it.
    name: bytes
    #: For ordering: lowercase text.
    lower: str
    text_name: str
    values: tuple[str, ...]


def header_line(name: bytes, values: Sequence[bytes | None]) -> HeaderLine:
    """Check one header and convert it to text; ValueError if it is not a
    valid header."""
    present = [value for value in values if value is not None]
    # A control character is in the joined values iff it is in one.
    if _HEADER_NAME.fullmatch(name) is None or _BAD_VALUE.search(b"".join(present)):
        # Refused here, before anything is sent (Go would refuse it too,
        # as a failed download that RetryMiddleware would retry).
        raise ValueError(
            f"Request header {name!r}: {list(values)!r} is not a valid header (names are HTTP tokens; "
            "values may not contain CR, LF, NUL or other control characters except tab)"
        )
    text_name = name.decode("latin-1")
    return HeaderLine(name, text_name.lower(), text_name, tuple(_header_text(value) for value in present))


class HeaderLines:
    """header_line results by name and values: a crawl sends the same few
    dozen header lines (the browser's, its cookies) again and again, and
    checking and converting each costs more than looking it up."""

    #: Lines kept; when full, the next new line starts over.
    MAX_LINES = 1024

    def __init__(self) -> None:
        self._lines: dict[tuple[bytes, tuple[bytes | None, ...]], HeaderLine] = {}

    def line(self, name: bytes, values: Sequence[bytes | None]) -> HeaderLine:
        key = (name, tuple(values))
        found = self._lines.get(key)
        if found is None:
            found = header_line(name, values)
            if len(self._lines) >= self.MAX_LINES:
                self._lines.clear()
            self._lines[key] = found
        return found


@functools.lru_cache(maxsize=64)
def _ranks(order: tuple[str, ...]) -> dict[str, int]:
    """Each name's position in ``order`` (a browser's, one of a few)."""
    return {name: position for position, name in enumerate(order)}


_HEADER_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Control characters other than tab (RFC 9110 field values).
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _header_text(value: bytes) -> str:
    # Values cross the ABI as JSON text, as Latin-1 (latin1Headers): each
    # byte is the code point of its number, so every byte goes out as is.
    return value.decode("latin-1")


def _add_proxy(request_input: RequestInput, request: Request, auth_encoding: str) -> None:
    proxy = request.meta.get("proxy")
    if not proxy:
        return
    if not isinstance(proxy, str):
        raise ValueError(f"The 'proxy' request meta key must be a URL string, got {proxy!r}")
    # Without a scheme the proxy is an HTTP one, as for Scrapy's
    # HttpProxyMiddleware and HTTP11 handler; the middleware turns
    # "host:port" into "//host:port".
    if proxy.startswith("//"):
        proxy = "http:" + proxy
    elif "://" not in proxy:
        proxy = "http://" + proxy
    # Messages show the URL without its credentials: they end up in logs.
    shown = redacted(proxy)
    try:
        parts = urlsplit(proxy)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"The 'proxy' request meta key is not a valid URL ({shown!r}): {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"Unsupported proxy scheme {scheme!r} in the 'proxy' request meta key ({shown!r}); "
            f"accepted: {', '.join(PROXY_SCHEMES)}"
        )
    host = parts.hostname or ""
    if not _is_host(host):
        raise ValueError(f"The 'proxy' request meta key has no valid host name ({shown!r})")
    auth = request.headers.get(b"Proxy-Authorization")
    if auth and scheme in ("http", "https"):
        # Sent on the CONNECT request only, never to the target.
        request_input["connectHeaders"] = {"Proxy-Authorization": [auth.decode("latin-1")]}
    elif auth:
        user, password = _basic_credentials(auth, auth_encoding)
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{f'[{host}]' if ':' in host else host}"
        if port:
            netloc += f":{port}"
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


def session_key(options: RequestInput, identity: str = "", timeout_ms: int | None = None) -> str:
    """A digest of the client options (client_options' fields: every one
    fixes the native client) and of the caller's identity name (requests of
    different identities never share a client, so never a connection or
    TLS session ticket).

    HTTP(S) proxies add the deadline ``timeout_ms``: their CONNECT step only
    honours the client's own timeout (docs/abi.rst).
    """
    fixed: dict[str, object] = dict(options)
    if str(options.get("proxyUrl", "")).lower().startswith(("http://", "https://")):
        fixed["timeoutMilliseconds"] = timeout_ms
    canonical = json.dumps([fixed, identity], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]
