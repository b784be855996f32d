"""Browser identities kept as data: one JSON file per identity.

An identity is everything that makes a request look like one browser:
the TLS ClientHello and HTTP/2 preface (``tls``, ``http2``: handed to the
library, which builds the client from them), the User-Agent and client
hints, the headers per kind of request and their order over HTTP/2 and
HTTP/1.1, the browser version and platform, the published fingerprints it
was checked against and where each value came from. The package ships its
identities in ``scrapy_tlsclient/identities/``; ``TLS_CLIENT_IDENTITY_FILES``
adds more (docs/profiles.rst). Loading is pure: files in, typed values or
an error naming the file and the field out.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FAMILIES",
    "PLATFORMS",
    "REQUEST_DEPENDENT",
    "REQUEST_KINDS",
    "Identity",
    "IdentityFileError",
    "Published",
    "Source",
    "load_identities",
    "load_identity",
    "packaged_identity_files",
]

#: The kinds of request a browser sends different headers for
#: (``tls_client_request_kind``; docs/middleware.rst). ``websocket`` is the
#: opening handshake of ``new WebSocket(...)`` (HTTP/1.1, RFC 6455 4.1).
REQUEST_KINDS = ("navigation", "fetch", "image", "script", "style", "download", "websocket")
FAMILIES = ("chrome", "edge", "firefox", "safari")
PLATFORMS = ("windows", "macos", "linux", "android", "ios")
#: Headers every kind of request carries with the same value: kept once
#: per identity instead of once per kind.
_IDENTITY_WIDE = ("user-agent", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")
#: Headers whose value comes from the request, when it has one: a kind
#: lists them (value null) only to place them. Sec-WebSocket-Key is drawn
#: per handshake by the websocket library, which writes it where the kind
#: places it.
REQUEST_DEPENDENT = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-protocol",
        "referer",
        "cookie",
        "origin",
        "content-type",
        "content-length",
        "cache-control",
        "pragma",
        "range",
        "if-range",
    }
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FORMAT = 1

Pairs = tuple[tuple[str, str], ...]


class IdentityFileError(ValueError):
    """An identity file that cannot be used, with the file and field."""


@dataclass(frozen=True)
class Published:
    """A real browser's fingerprints as published, to check ours against."""

    ja4: str
    ja3n: str | None
    akamai: str
    #: Where the values were published (a URL or a repository + path).
    source: str


@dataclass(frozen=True)
class Source:
    """Where some of an identity's values came from, and when."""

    covers: str
    reference: str
    captured: datetime.date


@dataclass(frozen=True)
class Identity:
    name: str
    family: str
    version: str
    major: int
    platform: str
    mobile: bool
    user_agent: str
    #: sec-ch-ua, sec-ch-ua-mobile, sec-ch-ua-platform (Chromium only).
    client_hints: Pairs
    #: Per kind of request, every header of that kind in the order sent:
    #: (name, value), or (name, None) where the value is the identity's
    #: (User-Agent, client hints) or the request's (Referer, Cookie, ...,
    #: sent only when the request has one). Lowercase names.
    kinds: Mapping[str, tuple[tuple[str, str | None], ...]]
    #: Where headers no kind lists go (Cookie, Origin, Content-Type, ...):
    #: lowercase names in the browser's order.
    order: tuple[str, ...]
    #: Header names as the browser writes them over HTTP/1.1.
    http1_names: tuple[str, ...]
    #: Headers the browser sends over HTTP/2 only (Chrome's priority,
    #: Firefox's te), lowercase.
    http2_only: tuple[str, ...]
    #: The browser permutes its TLS extensions per connection.
    shuffle_extensions: bool
    published: Published | None
    sources: tuple[Source, ...]
    #: The ``tls`` and ``http2`` documents and the name, as registerProfiles
    #: takes them (validated by the library, which names the field).
    wire: Mapping[str, Any] = field(repr=False)
    path: str = ""

    @property
    def verified(self) -> bool:
        """Checked against a published capture of the real browser."""
        return self.published is not None

    @property
    def captured(self) -> datetime.date:
        """The newest capture date among the sources."""
        return max(source.captured for source in self.sources)


def packaged_identity_files() -> list[Path]:
    return sorted((Path(__file__).resolve().parent / "identities").glob("*.json"))


def load_identities(paths: list[Path]) -> dict[str, Identity]:
    """Every identity in ``paths``, by name; a name given twice is refused."""
    out: dict[str, Identity] = {}
    for path in paths:
        identity = load_identity(path)
        if identity.name in out:
            raise IdentityFileError(
                f"{path}: field name: identity {identity.name!r} is also defined in {out[identity.name].path}"
            )
        out[identity.name] = identity
    return out


def load_identity(path: Path) -> Identity:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise IdentityFileError(f"{path}: cannot read the identity file: {exc}") from None
    except ValueError as exc:
        raise IdentityFileError(f"{path}: not valid JSON: {exc}") from None
    return _Reader(str(path)).identity(document)


class _Reader:
    """Reads one document, naming the file and field in every error."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> IdentityFileError:
        return IdentityFileError(f"{self.path}: field {where}: {problem}")

    def obj(
        self, value: object, where: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {type(value).__name__}")
        for key in keys:
            if key not in value:
                raise self.fail(f"{where}.{key}".lstrip("."), "is missing")
        for key in value:
            if key not in keys and key not in optional:
                raise self.fail(
                    f"{where}.{key}".lstrip("."), f"unknown field; accepted: {', '.join(keys + optional)}"
                )
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string, got {value!r}")
        return value

    def choice(self, value: object, where: str, accepted: tuple[str, ...]) -> str:
        if value not in accepted:
            raise self.fail(where, f"must be one of {', '.join(accepted)}, got {value!r}")
        return str(value)

    def pairs(self, value: object, where: str) -> Pairs:
        if not isinstance(value, list):
            raise self.fail(where, "must be a list of [name, value] pairs")
        out = []
        for i, pair in enumerate(value):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(part, str) for part in pair)
                or not pair[0]
            ):
                raise self.fail(f"{where}[{i}]", f"must be a [name, value] pair of strings, got {pair!r}")
            if pair[0] != pair[0].lower():
                raise self.fail(f"{where}[{i}]", f"header names are lowercase here, got {pair[0]!r}")
            out.append((pair[0], pair[1]))
        return tuple(out)

    def kind(self, value: object, where: str) -> tuple[tuple[str, str | None], ...]:
        """A kind's headers: [name, value] pairs, [name, null] for the
        identity's or the request's value."""
        if not isinstance(value, list) or not value:
            raise self.fail(where, "must be a non-empty list of [name, value] pairs")
        out: list[tuple[str, str | None]] = []
        for i, pair in enumerate(value):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not isinstance(pair[0], str)
                or not pair[0]
                or not (pair[1] is None or isinstance(pair[1], str))
            ):
                raise self.fail(f"{where}[{i}]", f"must be a [name, value or null] pair, got {pair!r}")
            name, header_value = pair
            if name != name.lower():
                raise self.fail(f"{where}[{i}]", f"header names are lowercase here, got {name!r}")
            if name in _IDENTITY_WIDE and header_value is not None:
                raise self.fail(
                    f"{where}[{i}]",
                    f"{name} is the identity's: give null here, its value in user_agent / client_hints",
                )
            if header_value is None and name not in _IDENTITY_WIDE and name not in REQUEST_DEPENDENT:
                raise self.fail(
                    f"{where}[{i}]",
                    f"null stands for the identity's or the request's value; {name} is neither "
                    f"(request headers: {', '.join(sorted(REQUEST_DEPENDENT))})",
                )
            if any(name == seen for seen, _ in out):
                raise self.fail(f"{where}[{i}]", f"{name} is listed twice")
            out.append((name, header_value))
        return tuple(out)

    def names(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "must be a non-empty list of header names")
        for i, name in enumerate(value):
            self.text(name, f"{where}[{i}]")
        if len({name.lower() for name in value}) != len(value):
            raise self.fail(where, "names a header twice")
        return tuple(value)

    def identity(self, document: object) -> Identity:
        top = self.obj(
            document,
            "",
            (
                "format",
                "name",
                "browser",
                "published",
                "sources",
                "user_agent",
                "client_hints",
                "headers",
                "tls",
                "http2",
            ),
        )
        if top["format"] != _FORMAT:
            raise self.fail(
                "format", f"must be {_FORMAT} (this package's identity format), got {top['format']!r}"
            )
        name = self.text(top["name"], "name")
        if not _NAME.match(name):
            raise self.fail(
                "name", f"must be lowercase letters, digits and '_', starting with a letter, got {name!r}"
            )
        browser = self.obj(top["browser"], "browser", ("family", "version", "platform", "mobile"))
        family = self.choice(browser["family"], "browser.family", FAMILIES)
        version = self.text(browser["version"], "browser.version")
        major_text = version.split(".")[0]
        if not major_text.isdigit():
            raise self.fail("browser.version", f"must start with the major version number, got {version!r}")
        platform = self.choice(browser["platform"], "browser.platform", PLATFORMS)
        if not isinstance(browser["mobile"], bool):
            raise self.fail("browser.mobile", f"must be true or false, got {browser['mobile']!r}")
        user_agent = self.text(top["user_agent"], "user_agent")
        client_hints = self.pairs(top["client_hints"], "client_hints")
        for i, (hint, _) in enumerate(client_hints):
            if hint not in _IDENTITY_WIDE[1:]:
                raise self.fail(
                    f"client_hints[{i}]", f"must be one of {', '.join(_IDENTITY_WIDE[1:])}, got {hint!r}"
                )
        headers = self.obj(top["headers"], "headers", ("kinds", "order", "http1_names", "http2_only"))
        given = {"user-agent", *(hint for hint, _ in client_hints)}
        kinds_doc = self.obj(headers["kinds"], "headers.kinds", REQUEST_KINDS)
        kinds = {kind: self.kind(kinds_doc[kind], f"headers.kinds.{kind}") for kind in REQUEST_KINDS}
        for kind, pairs in kinds.items():
            for i, (header, _) in enumerate(pairs):
                if header in _IDENTITY_WIDE and header not in given:
                    raise self.fail(f"headers.kinds.{kind}[{i}]", f"{header} has no value in client_hints")
        order = self.names(headers["order"], "headers.order")
        if any(name != name.lower() for name in order):
            raise self.fail("headers.order", "header names are lowercase here")
        http1_names = self.names(headers["http1_names"], "headers.http1_names")
        sent = {header for pairs in kinds.values() for header, _ in pairs}
        missing = sorted(sent - {written.lower() for written in http1_names})
        if missing:
            raise self.fail("headers.http1_names", f"does not say how to write {', '.join(missing)}")
        if not isinstance(headers["http2_only"], list) or not all(
            isinstance(header, str) and header in sent for header in headers["http2_only"]
        ):
            raise self.fail("headers.http2_only", "must list lowercase names of headers the kinds send")
        http2_only = tuple(headers["http2_only"])
        published = None
        if top["published"] is not None:
            pub = self.obj(top["published"], "published", ("ja4", "akamai", "source"), ("ja3n",))
            ja3n = pub.get("ja3n")
            if ja3n is not None and not re.fullmatch(r"[0-9a-f]{32}", str(ja3n)):
                raise self.fail("published.ja3n", f"must be a JA3N MD5 (32 hex digits) or null, got {ja3n!r}")
            ja4 = self.text(pub["ja4"], "published.ja4")
            if not re.fullmatch(r"t1[23][di]\d{4}[a-z0-9]{2}_[0-9a-f]{12}_[0-9a-f]{12}", ja4):
                raise self.fail("published.ja4", f"is not a JA4 fingerprint of a TCP ClientHello: {ja4!r}")
            published = Published(
                ja4=ja4,
                ja3n=ja3n,
                akamai=self.text(pub["akamai"], "published.akamai"),
                source=self.text(pub["source"], "published.source"),
            )
        if not isinstance(top["sources"], list) or not top["sources"]:
            raise self.fail("sources", "must list where the values came from")
        sources = []
        for i, item in enumerate(top["sources"]):
            src = self.obj(item, f"sources[{i}]", ("covers", "reference", "captured"))
            try:
                captured = datetime.date.fromisoformat(str(src["captured"]))
            except ValueError:
                raise self.fail(
                    f"sources[{i}].captured", f"must be a date YYYY-MM-DD, got {src['captured']!r}"
                ) from None
            sources.append(
                Source(
                    covers=self.text(src["covers"], f"sources[{i}].covers"),
                    reference=self.text(src["reference"], f"sources[{i}].reference"),
                    captured=captured,
                )
            )
        tls = self.obj(
            top["tls"], "tls", ("cipher_suites", "extensions"), ("compression_methods", "shuffle_extensions")
        )
        shuffle = tls.get("shuffle_extensions", False)
        if not isinstance(shuffle, bool):
            raise self.fail("tls.shuffle_extensions", f"must be true or false, got {shuffle!r}")
        http2 = self.obj(
            top["http2"],
            "http2",
            ("settings", "window_update", "pseudo_header_order"),
            ("priority_frames", "headers_priority", "first_stream_id"),
        )
        return Identity(
            name=name,
            family=family,
            version=version,
            major=int(major_text),
            platform=platform,
            mobile=browser["mobile"],
            user_agent=user_agent,
            client_hints=client_hints,
            kinds=kinds,
            order=order,
            http1_names=http1_names,
            http2_only=http2_only,
            shuffle_extensions=shuffle,
            published=published,
            sources=tuple(sources),
            wire={"name": name, "tls": tls, "http2": http2},
            path=self.path,
        )
