"""An identity file from a capture of a real browser.

``native/cmd/capture`` runs a browser against the project's fingerprint
server and writes what it sent (native/captures/README.md): per kind of
request its headers over HTTP/2 and over HTTP/1.1, and the ClientHello and
HTTP/2 preface as identity data. ``identity_from_capture`` turns that into
an identity document (docs/profiles.rst): the routine for keeping an
identity current is a capture and this conversion. Pure: dicts in, a dict
out.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from ._identities import _IDENTITY_WIDE, REQUEST_DEPENDENT, REQUEST_KINDS

__all__ = ["CAPTURED_KINDS", "identity_from_capture"]

#: The capture page's request that stands for each kind. A file download
#: is the link with a ``download`` attribute (a link to an attachment is
#: an ordinary navigation).
CAPTURED_KINDS = {
    "navigation": "navigate",
    "fetch": "fetch",
    "image": "image",
    "script": "script",
    "style": "style",
    "download": "download-attribute",
    "websocket": "websocket",
}
#: Kinds a browser sends over HTTP/1.1 only: a WebSocket's handshake goes
#: on a connection of its own unless the server offers WebSockets over
#: HTTP/2 (RFC 8441), which the capture server does not.
_HTTP1_ONLY = frozenset({"websocket"})
#: Request headers a handshake always carries with the same value: the
#: browser's no-cache pair (Chromium's LOAD_DISABLE_CACHE, WebKit's and
#: Gecko's own), not the request's.
_HANDSHAKE_FIXED = frozenset({"pragma", "cache-control"})


def identity_from_capture(
    capture: dict[str, Any],
    *,
    name: str,
    family: str,
    platform: str,
    mobile: bool,
    order: list[str],
    capture_path: str,
    user_agent: str | None = None,
    client_hints: list[list[str]] | None = None,
    published_also: str = "",
) -> dict[str, Any]:
    """An identity document from ``capture``. ``user_agent`` and
    ``client_hints`` replace the captured ones (another platform or brand
    of the same engine); ``order`` places the request headers the capture
    page did not send (Cookie, Origin, Content-Type, ...)."""
    by_protocol = {
        "h2": _first_of_each_kind(capture, "h2"),
        "http/1.1": _first_of_each_kind(capture, "http/1.1"),
    }
    h2, h1 = by_protocol["h2"], by_protocol["http/1.1"]
    navigation = h2[CAPTURED_KINDS["navigation"]]
    captured_wide = {
        name.lower(): value for name, value in navigation["headers"] if name.lower() in _IDENTITY_WIDE
    }
    kinds: dict[str, list[list[str | None]]] = {}
    http1_names: dict[str, str] = {}
    http2_only: set[str] = set()
    for kind in REQUEST_KINDS:
        record = (h1 if kind in _HTTP1_ONLY else h2)[CAPTURED_KINDS[kind]]
        fixed = _HANDSHAKE_FIXED if kind == "websocket" else frozenset()
        pairs: list[list[str | None]] = [
            [
                header,
                None
                if header in _IDENTITY_WIDE or (header in REQUEST_DEPENDENT and header not in fixed)
                else value,
            ]
            for header, value in ((n.lower(), v) for n, v in record["headers"])
            if not header.startswith(":") and header != "host"
        ]
        wire = [(n, v) for n, v in h1[CAPTURED_KINDS[kind]]["headers"] if n.lower() != "host"]
        for written, _ in wire:
            http1_names[written.lower()] = written
        names_h1 = [n.lower() for n, _ in wire]
        if kind in _HTTP1_ONLY:
            kinds[kind] = pairs
            continue
        http2_only |= {str(header) for header, _ in pairs if header not in names_h1}
        if "connection" in names_h1:
            # Connection is HTTP/1.1's own: placed where the browser puts
            # it there, after the header it follows on the wire.
            at = names_h1.index("connection")
            before = names_h1[at - 1] if at > 0 else None
            position = 0 if before is None else [h for h, _ in pairs].index(before) + 1
            value = dict(wire)[next(n for n, _ in wire if n.lower() == "connection")]
            pairs.insert(position, ["connection", value])
        kinds[kind] = pairs
    # Headers not seen over HTTP/1.1 are written as browsers write the rest.
    for header in [*sorted(http2_only), *order]:
        http1_names.setdefault(header, "-".join(part.capitalize() for part in header.split("-")))
    first = navigation
    captured = datetime.date.fromisoformat(capture["captured_at"][:10])
    published = {
        "ja4": first["ja4"],
        "ja3n": hashlib.md5(first["ja3n"].encode()).hexdigest(),  # JA3N is an MD5 by definition
        "akamai": first["akamai"],
        "source": (
            f"this project's capture of {capture['browser']} {capture['version']} on {capture['platform']} "
            f"({capture_path}, {captured}){published_also}"
        ),
    }
    hints = client_hints
    if hints is None:
        hints = [[hint, captured_wide[hint]] for hint in _IDENTITY_WIDE[1:] if hint in captured_wide]
    return {
        "format": 1,
        "name": name,
        "browser": {"family": family, "version": capture["version"], "platform": platform, "mobile": mobile},
        "published": published,
        "sources": [
            {
                "covers": "tls, http2, headers",
                "reference": (
                    f"{capture_path}: {capture['browser']} {capture['version']}, {capture['platform']}, "
                    f"captured by native/cmd/capture (commit {capture['tool_commit'][:12]})"
                ),
                "captured": captured.isoformat(),
            },
        ],
        "user_agent": user_agent or captured_wide["user-agent"],
        "client_hints": hints,
        "headers": {
            "kinds": kinds,
            "order": order,
            "http1_names": sorted(http1_names.values(), key=str.lower),
            "http2_only": sorted(http2_only),
        },
        "tls": _tls(capture["identity_tls"]),
        "http2": {**capture["identity_http2"], "first_stream_id": navigation["stream_id"]},
    }


#: What an ECH GREASE payload adds to its plaintext length on the wire:
#: the AEAD tag.
_ECH_TAG = 16


def _tls(captured: dict[str, Any]) -> dict[str, Any]:
    """The captured hello, with ECH GREASE lengths as utls takes them
    (before encryption; the capture sees them with the tag)."""
    extensions = []
    for extension in captured["extensions"]:
        if extension["name"] == "encrypted_client_hello":
            lengths = sorted({length - _ECH_TAG for length in extension["payload_lengths"]})
            extension = {**extension, "payload_lengths": lengths}
        extensions.append(extension)
    return {**captured, "extensions": extensions}


def _first_of_each_kind(capture: dict[str, Any], protocol: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for run in capture["runs"]:
        for record in run["requests"]:
            if record.get("protocol") == protocol:
                out.setdefault(record["kind"], record)
    wanted = {
        captured
        for kind, captured in CAPTURED_KINDS.items()
        if protocol == "http/1.1" or kind not in _HTTP1_ONLY
    }
    missing = sorted(wanted - set(out))
    if missing:
        raise ValueError(f"the capture has no {protocol} request of kind {', '.join(missing)}")
    return out
