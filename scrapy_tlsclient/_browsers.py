"""The headers each profile's real browser sends, per kind of request, in
its order.

tls-client makes the TLS ClientHello and the HTTP/2 frames look like a
browser; the headers are the caller's job. A Chrome ClientHello carrying
``User-Agent: Scrapy/2.x`` is easier to flag than no impersonation at all,
so the middleware fills in the headers the profile's browser sends for the
kind of request at hand (a navigation, a fetch, an image, ...), and orders
every request's headers the way that browser does.

A browser identity (scrapy_tlsclient/identities, captured from the real
browser) gives its headers as data. For tls-client's compiled profile names
the navigation headers are derived from the name (desktop Chrome / Firefox
on Windows, Safari on iOS or macOS, en-US) and the other kinds come from the
newest identity of the family. Pure functions over Scrapy's ``Headers``;
the only I/O is reading the packaged identity files once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.http.request import NO_CALLBACK
from scrapy.settings import default_settings

from ._identities import REQUEST_KINDS, load_identities, packaged_identity_files

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from scrapy import Request
    from scrapy.http.headers import Headers

    from ._identities import Identity

__all__ = [
    "Browser",
    "BrowserHeaders",
    "accept_encoding",
    "add_browser_headers",
    "browser_for",
    "browser_header_values",
    "fetch_site",
    "handshake_order",
    "incoherences",
    "order_headers",
    "request_kind",
    "use_identities",
    "wants_browser_headers",
    "websocket_origin",
]

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Browser:
    """What one browser version sends for a top-level navigation."""

    #: "chrome", "brave", "firefox" or "safari".
    family: str
    major: int
    #: The navigation headers, lowercase names, in the order sent.
    headers: tuple[tuple[str, str], ...]
    #: Every header name this browser places (lowercase), in its order;
    #: includes request-dependent ones (referer, cookie, ...). Names not
    #: listed keep their relative order after these.
    order: tuple[str, ...]
    #: The headers per kind of request (REQUEST_KINDS), in the order sent;
    #: a kind not given sends the navigation headers.
    kinds: Mapping[str, Pairs] = field(default_factory=dict)
    #: Per kind, every header name the browser places, in its order
    #: (request-dependent ones included); a kind not given uses ``order``.
    orders: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The name as Scrapy's Headers stores it (title case, bytes) -> the
    #: name as the browser writes it over HTTP/1.1 (the handler maps each
    #: request's names with it).
    http1_keys: Mapping[bytes, str] = field(default_factory=dict)
    #: Headers sent over HTTP/2 only (lowercase).
    http2_only: tuple[str, ...] = ()
    #: The identity (scrapy_tlsclient/identities) this browser comes from.
    identity: str | None = None
    #: The browser permutes its TLS extensions per connection; None: as
    #: its family does (Chromium since 106).
    shuffles: bool | None = None

    @property
    def shuffle_extensions(self) -> bool:
        if self.shuffles is not None:
            return self.shuffles
        return self.family in ("chrome", "brave", "edge")

    def headers_for(self, kind: str) -> Pairs:
        """The headers this browser sends for a request of ``kind``."""
        return self.kinds.get(kind, self.headers)

    def order_for(self, kind: str) -> tuple[str, ...]:
        """Where this browser places each header in a request of ``kind``."""
        return self.orders.get(kind, self.order)

    @property
    def user_agent(self) -> str:
        return dict(self.headers)["user-agent"]


#: Headers a browser sends only with a navigation it makes itself; a request
#: that already has one of these has browser headers chosen by the user.
BROWSER_ONLY_HEADERS = frozenset(
    {
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-user",
        "sec-fetch-dest",
        "upgrade-insecure-requests",
        "priority",
        "te",
    }
)

_PROFILE_NAME = re.compile(r"^(chrome|brave|firefox)_(\d+)(?:_[A-Z]+)*$")
_SAFARI_NAME = re.compile(r"^safari_(ios_|ipad_)?(\d+)_(\d+)(?:_(\d+))?$")


_identities: dict[str, Identity] = {}


def use_identities(identities: Mapping[str, Identity]) -> None:
    """Make ``identities`` (beside the packaged ones) known to browser_for,
    process-wide, as the library's registry of them is."""
    _known_identities().update(identities)
    browser_for.cache_clear()


def _known_identities() -> dict[str, Identity]:
    if not _identities:
        _identities.update(load_identities(packaged_identity_files()))
    return _identities


@cache
def browser_for(profile: str) -> Browser | None:
    """The browser a profile name imitates: an identity's, or one derived
    from a tls-client profile name; None for profiles of apps and
    libraries (okhttp, mobile apps, cloudscraper, opera)."""
    identity = _known_identities().get(profile)
    if identity is not None:
        return _from_identity(identity)
    match = _PROFILE_NAME.match(profile)
    if match:
        family, major = match.group(1), int(match.group(2))
        if family == "firefox":
            return _with_family_kinds(_firefox(major), "firefox")
        return _with_family_kinds(_chromium(family, major), "chrome")
    match = _SAFARI_NAME.match(profile)
    if match:
        device = {"ios_": "iphone", "ipad_": "ipad", None: "mac"}[match.group(1)]
        version = tuple(int(part) for part in match.group(2, 3, 4) if part is not None)
        return _with_family_kinds(_safari(device, version), "safari")
    return None


def _from_identity(identity: Identity) -> Browser:
    wide = {**dict(identity.client_hints), "user-agent": identity.user_agent}
    kinds = {
        kind: tuple(
            (name, wide[name] if value is None else value)
            for name, value in pairs
            if value is not None or name in wide
        )
        for kind, pairs in identity.kinds.items()
    }
    orders = {
        kind: _merged_order([name for name, _ in pairs], identity.order)
        for kind, pairs in identity.kinds.items()
    }
    return Browser(
        family=identity.family,
        major=identity.major,
        headers=kinds["navigation"],
        order=orders["navigation"],
        kinds=kinds,
        orders=orders,
        # Headers.normkey title-cases every name.
        http1_keys={name.title().encode(): name for name in identity.http1_names},
        http2_only=identity.http2_only,
        identity=identity.name,
        shuffles=identity.shuffle_extensions,
    )


def _merged_order(placed: list[str], fallback: Sequence[str]) -> tuple[str, ...]:
    """``placed`` (a kind's own order), with every other name of
    ``fallback`` inserted right after the last name before it in
    ``fallback`` that is already placed (first when there is none)."""
    merged = list(placed)
    previous: str | None = None
    for name in fallback:
        if name not in merged:
            merged.insert(merged.index(previous) + 1 if previous is not None else 0, name)
        previous = name
    return tuple(merged)


def _with_family_kinds(browser: Browser, family: str) -> Browser:
    """A browser derived from a tls-client profile name gets the other
    kinds of request from the newest desktop identity of its family: what a
    kind changes (Accept, sec-fetch-*, priority, the order) has held across
    versions, while the User-Agent, client hints and Accept-Encoding stay
    the derived browser's."""
    same = [
        identity
        for identity in _known_identities().values()
        if identity.family == family and not identity.mobile
    ]
    if not same:
        return browser
    model = _from_identity(max(same, key=lambda identity: (identity.major, identity.name)))
    own = dict(browser.headers)
    kinds = {}
    for kind in REQUEST_KINDS:
        kinds[kind] = tuple(
            (
                name,
                own[name]
                if name in own and (name in _CLIENT_HINTS or name in ("user-agent", "accept-encoding"))
                else value,
            )
            for name, value in model.headers_for(kind)
            if name not in _CLIENT_HINTS or name in own
        )
    kinds["navigation"] = browser.headers
    orders = {kind: model.order_for(kind) for kind in REQUEST_KINDS if kind != "navigation"}
    return Browser(
        browser.family,
        browser.major,
        browser.headers,
        browser.order,
        kinds,
        orders,
        shuffles=browser.shuffles,
    )


_CLIENT_HINTS = ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")


# -- Chromium ---------------------------------------------------------------

_CHROMIUM_ORDER = (
    "content-length",
    "cache-control",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "origin",
    "content-type",
    "upgrade-insecure-requests",
    "user-agent",
    "accept",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-user",
    "sec-fetch-dest",
    "referer",
    "accept-encoding",
    "accept-language",
    "cookie",
    "priority",
)


def _chromium(family: str, major: int) -> Browser:
    brand = "Brave" if family == "brave" else "Google Chrome"
    headers = [
        ("sec-ch-ua", _sec_ch_ua(major, brand)),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", '"Windows"'),
        ("upgrade-insecure-requests", "1"),
        (
            "user-agent",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
            "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
        ),
        ("sec-fetch-site", "none"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
        # zstd from Chrome 123, the priority header from 124.
        ("accept-encoding", "gzip, deflate, br, zstd" if major >= 123 else "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
    ]
    if major >= 124:
        headers.append(("priority", "u=0, i"))
    return Browser(family, major, tuple(headers), _CHROMIUM_ORDER)


#: Chromium's "GREASE" brand characters (user_agent_utils.cc).
_GREASE_CHARS = (" ", "(", ":", "-", ".", "/", ")", ";", "=", "?", "_")
_GREASE_VERSIONS = ("8", "99", "24")
#: The six orders of (grease, Chromium, brand), chosen by major % 6.
_BRAND_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
#: Before the seeded algorithm (Chrome 105) the list was fixed per version.
_EARLY_SEC_CH_UA = {
    103: '".Not/A)Brand";v="99", "{brand}";v="103", "Chromium";v="103"',
    104: '"Chromium";v="104", " Not A;Brand";v="99", "{brand}";v="104"',
}


def _sec_ch_ua(major: int, brand: str) -> str:
    """Chromium's brand list: a "GREASE" brand and an order, both seeded
    by the major version, so a given version always sends the same value
    (e.g. Chrome 131: ``"Google Chrome";v="131", "Chromium";v="131",
    "Not_A Brand";v="24"``)."""
    if major in _EARLY_SEC_CH_UA:
        return _EARLY_SEC_CH_UA[major].format(brand=brand)
    first, second = (_GREASE_CHARS[n % len(_GREASE_CHARS)] for n in (major, major + 1))
    grease_brand = f"Not{first}A{second}Brand"
    entries = [
        (grease_brand, _GREASE_VERSIONS[major % len(_GREASE_VERSIONS)]),
        ("Chromium", str(major)),
        (brand, str(major)),
    ]
    placed: list[tuple[str, str]] = [("", "")] * 3
    for entry, position in zip(entries, _BRAND_ORDERS[major % len(_BRAND_ORDERS)], strict=True):
        placed[position] = entry
    return ", ".join(f'"{name}";v="{version}"' for name, version in placed)


# -- Firefox ----------------------------------------------------------------

_FIREFOX_ORDER = (
    "user-agent",
    "accept",
    "accept-language",
    "accept-encoding",
    "content-type",
    "content-length",
    "origin",
    "referer",
    "cookie",
    "upgrade-insecure-requests",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-user",
    "priority",
    "te",
)


def _firefox(major: int) -> Browser:
    if major >= 128:
        accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    else:
        accept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
    headers = [
        (
            "user-agent",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{major}.0) Gecko/20100101 Firefox/{major}.0",
        ),
        ("accept", accept),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd" if major >= 126 else "gzip, deflate, br"),
        ("upgrade-insecure-requests", "1"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "none"),
        ("sec-fetch-user", "?1"),
    ]
    if major >= 128:
        headers.append(("priority", "u=0, i"))
    headers.append(("te", "trailers"))
    return Browser("firefox", major, tuple(headers), _FIREFOX_ORDER)


# -- Safari -----------------------------------------------------------------

_SAFARI_ORDER = (
    "content-type",
    "origin",
    "content-length",
    "sec-fetch-dest",
    "user-agent",
    "accept",
    "sec-fetch-site",
    "sec-fetch-mode",
    "referer",
    "accept-language",
    "priority",
    "accept-encoding",
    "cookie",
)
#: Safari before 16.4 sent no Sec-Fetch headers.
_OLD_SAFARI_ORDER = ("accept", "user-agent", "accept-language", "referer", "accept-encoding", "cookie")


def _safari(device: str, version: tuple[int, ...]) -> Browser:
    dotted = ".".join(map(str, version))
    # Safari 26 freezes the OS version in its User-Agent at 18.6 / 10.15.7.
    os_version = "18_6" if version[0] >= 26 else "_".join(map(str, version))
    if device == "mac":
        user_agent = (
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            f"Version/{dotted} Safari/605.1.15"
        )
    else:
        platform = "iPhone; CPU iPhone OS" if device == "iphone" else "iPad; CPU OS"
        user_agent = (
            f"Mozilla/5.0 ({platform} {os_version} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            f"Version/{dotted} Mobile/15E148 Safari/604.1"
        )
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    if version < (16, 4):
        headers = (
            ("accept", accept),
            ("user-agent", user_agent),
            ("accept-language", "en-US,en;q=0.9"),
            ("accept-encoding", "gzip, deflate, br"),
        )
        return Browser("safari", version[0], headers, _OLD_SAFARI_ORDER)
    navigation = [
        ("sec-fetch-dest", "document"),
        ("user-agent", user_agent),
        ("accept", accept),
        ("sec-fetch-site", "none"),
        ("sec-fetch-mode", "navigate"),
        ("accept-language", "en-US,en;q=0.9"),
    ]
    if version >= (17,):
        navigation.append(("priority", "u=0, i"))
    navigation.append(("accept-encoding", "gzip, deflate, br"))
    return Browser("safari", version[0], tuple(navigation), _SAFARI_ORDER)


#: Where each family places the request's own headers (Cookie, Origin,
#: Content-Type, ...), for identities made from captures that lack them.
FAMILY_ORDERS = {
    "chrome": _CHROMIUM_ORDER,
    "edge": _CHROMIUM_ORDER,
    "firefox": _FIREFOX_ORDER,
    "safari": _SAFARI_ORDER,
}


# -- request-dependent values ---------------------------------------------


def fetch_site(url: str, referer: str | None, kind: str = "navigation") -> str:
    """``Sec-Fetch-Site`` for a request of ``kind`` to ``url`` from
    ``referer``: a navigation typed in has none; another kind of request
    always comes from a page, taken to be on the same origin when the
    request does not say.

    Without a public-suffix list, "same-site" is approximated as the same
    host on another scheme or port.
    """
    if not referer:
        return "none" if kind == "navigation" else "same-origin"
    target, source = _origin(url), _origin(referer)
    if target == source:
        return "same-origin"
    if target[1] == source[1]:
        return "same-site"
    return "cross-site"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    # A WebSocket is fetched at its http(s) URL (WHATWG WebSockets,
    # "establish a WebSocket connection").
    scheme = parts.scheme.lower()
    scheme = {"wss": "https", "ws": "http"}.get(scheme, scheme)
    default = {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), default if port is None else port


# -- applying a browser to a request's headers ----------------------------

#: Scrapy's own defaults for the headers a browser also sends: a request
#: still carrying one of these values has not been given it by the user.
_SCRAPY_DEFAULTS: dict[bytes, bytes] = {
    b"user-agent": default_settings.USER_AGENT.encode(),
    **{
        name.lower().encode(): value.encode()
        for name, value in default_settings.DEFAULT_REQUEST_HEADERS.items()
    },
    b"accept-encoding": b", ".join(ACCEPTED_ENCODINGS),
}


def accept_encoding(browser: Browser) -> str:
    """The browser's Accept-Encoding, less what Scrapy's
    HttpCompressionMiddleware cannot decode here (``br`` needs ``brotli``,
    ``zstd`` needs ``zstandard``): a body the crawl cannot decode is worse
    than a slightly different header."""
    decodable = {encoding.decode() for encoding in ACCEPTED_ENCODINGS}
    offered = dict(browser.headers)["accept-encoding"].split(", ")
    return ", ".join(encoding for encoding in offered if encoding in decodable)


_WEBSOCKET_SCHEMES = ("ws", "wss")
_IMAGE_SUFFIXES = (".avif", ".bmp", ".gif", ".ico", ".jpeg", ".jpg", ".png", ".svg", ".webp")


def request_kind(request: Request) -> str:
    """What kind of request a browser would make for ``request``:
    ``tls_client_request_kind`` when set; a WebSocket's opening handshake
    for a ``ws://`` or ``wss://`` URL; a download for ``body_file`` and
    for the media pipelines' requests (an image when the path names one);
    a fetch when the spider set an Accept that is not a page's (JSON, an
    event stream, ...); else a navigation."""
    if "tls_client_request_kind" in request.meta:
        kind = request.meta["tls_client_request_kind"]
        if kind not in REQUEST_KINDS:
            raise ValueError(
                f"The 'tls_client_request_kind' request meta key must be one of {', '.join(REQUEST_KINDS)}, "
                f"got {kind!r}"
            )
        websocket = urlsplit(request.url).scheme.lower() in _WEBSOCKET_SCHEMES
        if kind == "websocket" and not websocket:
            raise ValueError(
                "The 'tls_client_request_kind' request meta key is 'websocket', which only ws:// and wss:// "
                f"requests can be (a WebSocket's opening handshake), got {request.url}"
            )
        return str(kind)
    if urlsplit(request.url).scheme.lower() in _WEBSOCKET_SCHEMES:
        return "websocket"
    if request.meta.get("body_file") is not None:
        return "download"
    # FilesPipeline and ImagesPipeline (MediaPipeline) send their requests
    # without a callback; so does RobotsTxtMiddleware, which marks its own.
    if request.callback is NO_CALLBACK and not request.meta.get("dont_obey_robotstxt"):
        return "image" if urlsplit(request.url).path.lower().endswith(_IMAGE_SUFFIXES) else "download"
    accept = request.headers.get(b"Accept")
    if accept is not None and accept != _SCRAPY_DEFAULTS[b"accept"] and b"text/html" not in accept:
        return "fetch"
    return "navigation"


_UA_CHROME = re.compile(rb"Chrome/(\d+)")


def _ua_family(user_agent: bytes) -> str | None:
    if b"Firefox/" in user_agent:
        return "firefox"
    if b"Edg/" in user_agent:
        return "edge"
    if b"Chrome/" in user_agent or b"CriOS/" in user_agent:
        return "chrome"
    if b"Safari/" in user_agent:
        return "safari"
    return None


def incoherences(browser: Browser, headers: Headers) -> list[str]:
    """What in ``headers`` contradicts ``browser``: a User-Agent of another
    browser or of another Chrome version, client hints a browser without
    them would never send. Each item names the header."""
    problems = []
    user_agent = headers.get(b"User-Agent")
    family = "chrome" if browser.family == "brave" else browser.family
    if user_agent is not None and user_agent != _SCRAPY_DEFAULTS[b"user-agent"]:
        claimed = _ua_family(user_agent)
        if claimed is not None and claimed != family and {claimed, family} != {"chrome", "edge"}:
            problems.append(f"the User-Agent header claims {claimed}, the ClientHello is {browser.family}'s")
        elif claimed in ("chrome", "edge") and family in ("chrome", "edge"):
            match = _UA_CHROME.search(user_agent)
            if match and int(match.group(1)) != browser.major:
                claimed = f"Chrome {int(match.group(1))}"
                problems.append(
                    f"the User-Agent header claims {claimed}, the identity is Chrome {browser.major}"
                )
    if family in ("firefox", "safari") and b"Sec-Ch-Ua" in headers:
        problems.append(f"the sec-ch-ua header is sent, which {browser.family} never sends")
    return problems


#: BROWSER_ONLY_HEADERS as Scrapy's Headers stores names (title case,
#: bytes): looking these up directly skips Headers' normalising per name.
_BROWSER_ONLY_KEYS = tuple(sorted(name.title().encode() for name in BROWSER_ONLY_HEADERS))


def wants_browser_headers(headers: Headers) -> bool:
    """True when the request has Scrapy's User-Agent (or none) and none of
    the headers only a browser sends: the user has not dressed it."""
    user_agent = headers.get(b"User-Agent")
    if user_agent is not None and user_agent != _SCRAPY_DEFAULTS[b"user-agent"]:
        return False
    return not any(dict.__contains__(headers, key) for key in _BROWSER_ONLY_KEYS)


#: A header as Scrapy's Headers stores it: name, values.
_Stored = tuple[bytes, tuple[bytes, ...]]


def browser_header_values(
    browser: Browser,
    kind: str,
    current: Sequence[Sequence[bytes]],
    site: str,
    *,
    decoded_here: bool = False,
) -> tuple[_Stored, ...]:
    """The headers to set on a request of ``kind`` whose values of the
    kind's headers are ``current`` (in the order of ``headers_for(kind)``,
    empty where absent) and whose Sec-Fetch-Site is ``site``: every header
    whose value is not one of Scrapy's defaults is kept. Accept-Encoding
    is only rewritten where Scrapy set it (no decompression, no header),
    or set where the handler decodes the body itself (``decoded_here``:
    body_file requests, which Scrapy's HttpCompressionMiddleware is to
    leave alone, scrapy/scrapy#7987); a WebSocket handshake (``kind``
    "websocket") gets the browser's as it is (the 101 has no body to
    decode)."""
    values: list[_Stored] = []
    for (name, value), present in zip(browser.headers_for(kind), current, strict=True):
        key = name.encode()
        if present and list(present) != [_SCRAPY_DEFAULTS.get(key)]:
            continue
        if name == "accept-encoding" and kind != "websocket":
            if not present and not decoded_here:
                continue
            value = accept_encoding(browser)
        elif name == "sec-fetch-site":
            value = site
        values.append((name.title().encode(), (value.encode(),)))
    return tuple(values)


def add_browser_headers(
    headers: Headers, browser: Browser, url: str, kind: str = "navigation", *, decoded_here: bool = False
) -> None:
    """Give ``headers`` (of a request to ``url``) ``browser``'s headers for
    a request of ``kind`` (browser_header_values).

    A WebSocket handshake also gets an Origin when the request has none
    (the Referer's origin, else the socket's own: browsers send one with
    every handshake)."""
    if kind == "websocket" and b"Origin" not in headers:
        headers[b"Origin"] = websocket_origin(url, _referer(headers))
    current = _current(headers, browser, kind)
    _set_stored(
        headers,
        browser_header_values(browser, kind, current, _site(headers, url, kind), decoded_here=decoded_here),
    )
    _drop_unsent_defaults(headers, browser, kind)


def _drop_unsent_defaults(headers: Headers, browser: Browser, kind: str) -> None:
    """Remove the headers that still carry Scrapy's default value and that
    the browser does not send with a request of ``kind`` (Chrome's
    downloads and WebSocket handshakes have no Accept): a value the user
    set stays."""
    for key, default in _unsent_defaults(browser.headers_for(kind)):
        if dict.get(headers, key) == [default]:
            dict.__delitem__(headers, key)


@cache
def _unsent_defaults(pairs: Pairs) -> tuple[tuple[bytes, bytes], ...]:
    """Scrapy's default headers a kind's header list leaves out, as
    Scrapy's Headers stores them (name, value)."""
    sent = {name for name, _ in pairs}
    return tuple(
        (key.decode().title().encode(), default)
        for key, default in _SCRAPY_DEFAULTS.items()
        if key.decode() not in sent
    )


class BrowserHeaders:
    """add_browser_headers for one crawl, with what it sets remembered by
    the request's values of the headers involved and its Sec-Fetch-Site: a
    crawl dresses thousands of requests alike, and working the browser's
    headers out through Scrapy's Headers (which normalises each name and
    value it is given) cost more than the rest of the middleware. A
    WebSocket handshake (one per socket) is dressed afresh."""

    #: Results kept; when full, the next new one starts over.
    MAX_KNOWN = 512

    def __init__(self) -> None:
        #: Each result beside its browser, which it keeps alive: a key's
        #: browser id then names no other browser.
        self._known: dict[tuple[object, ...], tuple[Browser, tuple[_Stored, ...]]] = {}

    def dress(
        self, headers: Headers, browser: Browser, url: str, kind: str, *, decoded_here: bool = False
    ) -> None:
        """Give ``headers`` (of a request to ``url``) ``browser``'s headers
        for a request of ``kind``, keeping every header whose value is not
        one of Scrapy's defaults."""
        if kind == "websocket":
            add_browser_headers(headers, browser, url, kind, decoded_here=decoded_here)
            return
        current = _current(headers, browser, kind)
        site = _site(headers, url, kind)
        key = (id(browser), kind, decoded_here, site, current)
        found = self._known.get(key)
        if found is None:
            values = browser_header_values(browser, kind, current, site, decoded_here=decoded_here)
            if len(self._known) >= self.MAX_KNOWN:
                self._known.clear()
            self._known[key] = (browser, values)
        else:
            values = found[1]
        _set_stored(headers, values)
        _drop_unsent_defaults(headers, browser, kind)


def _current(headers: Headers, browser: Browser, kind: str) -> tuple[tuple[bytes, ...], ...]:
    """The request's values of the headers of ``kind``, in its order."""
    return tuple(tuple(dict.get(headers, key, ())) for key in _stored_names(browser.headers_for(kind)))


def _referer(headers: Headers) -> str | None:
    referer = headers.get(b"Referer")
    return referer.decode("latin-1") if referer else None


def _site(headers: Headers, url: str, kind: str) -> str:
    """The request's Sec-Fetch-Site: from its Referer, or for a WebSocket
    handshake from its Origin (the page that opened the socket)."""
    origin = headers.get(b"Origin") if kind == "websocket" else None
    return fetch_site(url, origin.decode("latin-1") if origin else _referer(headers), kind)


def _set_stored(headers: Headers, values: Iterable[_Stored]) -> None:
    for key, stored in values:
        dict.__setitem__(headers, key, list(stored))


@cache
def _stored_names(pairs: Pairs) -> tuple[bytes, ...]:
    """Header names as Scrapy's Headers stores them (title case, bytes)."""
    return tuple(name.title().encode() for name, _ in pairs)


@cache
def _ranks(order: tuple[str, ...]) -> tuple[dict[bytes, int], dict[str, int]]:
    """Each name's position in ``order``, by the name as Headers stores it
    and by its lowercase text."""
    lower = {name: position for position, name in enumerate(order)}
    return {name.title().encode(): position for name, position in lower.items()}, lower


def websocket_origin(url: str, referer: str | None) -> str:
    """The Origin a browser sends with the handshake of a WebSocket to
    ``url``: the origin of the page that opened it, taken to be the
    Referer's when the request has one, else the socket's own origin
    (``https`` for ``wss``, ``http`` for ``ws``), serialised as RFC 6454
    6.2 says (no default port)."""
    scheme, host, port = _origin(referer or url)
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"https": 443, "http": 80}.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def handshake_order(browser: Browser, names: Sequence[str]) -> list[str]:
    """Where each header of a WebSocket handshake goes: the request's own
    (``names``, lowercase, in their order) and, among them, every other
    header of the browser's handshake (those the websocket library writes
    itself included) where the browser's ``websocket`` kind places it."""
    return list(_merged_order(list(names), browser.order_for("websocket")))


def order_headers(headers: Headers, order: Sequence[str]) -> None:
    """Reorder ``headers`` in place: names in ``order`` (lowercase) first,
    in that order, then the others in their current order."""
    stored, lower = _ranks(tuple(order))
    last = len(order)

    def position(entry: tuple[bytes, list[bytes]]) -> int:
        found = stored.get(entry[0])
        return found if found is not None else lower.get(entry[0].decode("latin-1").lower(), last)

    entries = sorted(dict.items(headers), key=position)
    dict.clear(headers)
    for key, values in entries:
        dict.__setitem__(headers, key, values)
