"""Checks of the structured fingerprint options (pure, no I/O).

Each function takes a value from a setting or a request meta key and
returns it in the native input's shape, or raises ValueError naming
``where`` and what is accepted, before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Callable, Mapping

__all__ = ["PROCESS_PINS", "PinRegistry", "certificate_pins", "custom_tls", "header_order", "server_name"]

#: HTTP/2 SETTINGS names tls-client knows (mapper.go H2SettingsMap).
H2_SETTING_NAMES = (
    "HEADER_TABLE_SIZE",
    "ENABLE_PUSH",
    "MAX_CONCURRENT_STREAMS",
    "INITIAL_WINDOW_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_HEADER_LIST_SIZE",
    "UNKNOWN_SETTING_7",
    "UNKNOWN_SETTING_8",
    "UNKNOWN_SETTING_9",
)
H3_SETTING_NAMES = (
    "QPACK_MAX_TABLE_CAPACITY",
    "MAX_FIELD_SECTION_SIZE",
    "QPACK_BLOCKED_STREAMS",
    "H3_DATAGRAM",
)
PSEUDO_HEADERS = (":method", ":authority", ":scheme", ":path")

_JA3 = re.compile(r"^\d+,(\d+(-\d+)*)?,(\d+(-\d+)*)?,(\d+(-\d+)*)?,(\d+(-\d+)*)?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UINT32 = 2**32 - 1


def custom_tls(value: object, where: str) -> dict[str, object]:
    """A tls-client ``customTlsClient`` spec: the fields are upstream's
    (``ja3String`` required, ``h2Settings``, ``h2SettingsOrder``,
    ``pseudoHeaderOrder``, ``connectionFlow``, ...), checked for names,
    types and ranges here; the library checks algorithm names."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a dict with at least 'ja3String', got {value!r}")
    spec: dict[str, object] = {}
    for key, item in value.items():
        check = _CUSTOM_FIELDS.get(key) if isinstance(key, str) else None
        if check is None:
            close = difflib.get_close_matches(str(key), _CUSTOM_FIELDS, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"{where}: unknown field {key!r}{hint}; accepted: {', '.join(sorted(_CUSTOM_FIELDS))}"
            )
        spec[key] = check(item, f"{where}[{key!r}]")
    if "ja3String" not in spec:
        raise ValueError(f"{where} needs a 'ja3String' (SSLVersion,Ciphers,Extensions,Curves,PointFormats)")
    settings, order = spec.get("h2Settings", {}), spec.get("h2SettingsOrder", [])
    assert isinstance(settings, dict) and isinstance(order, list)
    if order and sorted(order) != sorted(settings):
        raise ValueError(
            f"{where}: 'h2SettingsOrder' {order} must list exactly the 'h2Settings' names {sorted(settings)}"
        )
    return spec


def _ja3(value: object, where: str) -> str:
    if not isinstance(value, str) or not _JA3.match(value):
        raise ValueError(
            f"{where} must be a JA3 string 'SSLVersion,Ciphers,Extensions,Curves,PointFormats' with "
            f"'-'-separated decimal numbers (e.g. '771,4865-4866,0-23-65281,29-23,0'), got {value!r}"
        )
    return value


def _names_of(accepted: tuple[str, ...]) -> Callable[[object, str], list[str]]:
    def check(value: object, where: str) -> list[str]:
        names = _string_list(value, where)
        for name in names:
            if name not in accepted:
                raise ValueError(f"{where}: unknown name {name!r}; accepted: {', '.join(accepted)}")
        if len(set(names)) != len(names):
            raise ValueError(f"{where} lists a name twice: {names}")
        return names

    return check


def _settings_of(accepted: tuple[str, ...], limit: int) -> Callable[[object, str], dict[str, int]]:
    def check(value: object, where: str) -> dict[str, int]:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a dict of setting name -> integer, got {value!r}")
        settings: dict[str, int] = {}
        for name, number in value.items():
            if name not in accepted:
                raise ValueError(f"{where}: unknown setting {name!r}; accepted: {', '.join(accepted)}")
            settings[name] = _uint(number, f"{where}[{name!r}]", limit)
        return settings

    return check


def _pseudo_order(value: object, where: str) -> list[str]:
    names = _string_list(value, where)
    if sorted(names) != sorted(PSEUDO_HEADERS):
        raise ValueError(f"{where} must be an order of all four of {', '.join(PSEUDO_HEADERS)}, got {names}")
    return names


def _priority_param(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, Mapping) or set(value) - {"streamDep", "exclusive", "weight"}:
        raise ValueError(
            f"{where} must be a dict with 'streamDep' (int), 'exclusive' (bool), 'weight' (0-255), "
            f"got {value!r}"
        )
    return {
        "streamDep": _uint(value.get("streamDep", 0), f"{where}['streamDep']", 2**31 - 1),
        "exclusive": _bool(value.get("exclusive", False), f"{where}['exclusive']"),
        "weight": _uint(value.get("weight", 0), f"{where}['weight']", 255),
    }


def _priority_frames(value: object, where: str) -> list[dict[str, object]]:
    if not isinstance(value, list):
        raise ValueError(
            f"{where} must be a list of {{'streamID': int, 'priorityParam': {{...}}}}, got {value!r}"
        )
    frames = []
    for index, frame in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(frame, Mapping) or set(frame) != {"streamID", "priorityParam"}:
            raise ValueError(f"{at} must be a dict with 'streamID' and 'priorityParam', got {frame!r}")
        frames.append(
            {
                "streamID": _uint(frame["streamID"], f"{at}['streamID']", 2**31 - 1),
                "priorityParam": _priority_param(frame["priorityParam"], f"{at}['priorityParam']"),
            }
        )
    return frames


def _ech_suites(value: object, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
        isinstance(s, Mapping)
        and set(s) == {"kdfId", "aeadId"}
        and all(isinstance(v, str) for v in s.values())
        for s in value
    ):
        raise ValueError(f"{where} must be a list of {{'kdfId': str, 'aeadId': str}}, got {value!r}")
    return [dict(s) for s in value]


def _uint_list(value: object, where: str) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of integers, got {value!r}")
    return [_uint(item, where, 0xFFFF) for item in value]


def _string_list(value: object, where: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{where} must be a list of non-empty strings, got {value!r}")
    return list(value)


def _uint(value: object, where: str, limit: int = _UINT32) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"{where} must be an integer from 0 to {limit}, got {value!r}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be True or False, got {value!r}")
    return value


_CUSTOM_FIELDS: dict[str, Callable[[object, str], object]] = {
    "ja3String": _ja3,
    "h2Settings": _settings_of(H2_SETTING_NAMES, _UINT32),
    "h2SettingsOrder": _names_of(H2_SETTING_NAMES),
    "h3Settings": _settings_of(H3_SETTING_NAMES, 2**62 - 1),
    "h3SettingsOrder": _names_of(H3_SETTING_NAMES),
    "h3PseudoHeaderOrder": _pseudo_order,
    "h3PriorityParam": _uint,
    "h3SendGreaseFrames": _bool,
    "headerPriority": _priority_param,
    "priorityFrames": _priority_frames,
    "pseudoHeaderOrder": _pseudo_order,
    "connectionFlow": _uint,
    "certCompressionAlgos": _string_list,
    "keyShareCurves": _string_list,
    "alpnProtocols": _string_list,
    "alpsProtocols": _string_list,
    "ECHCandidatePayloads": _uint_list,
    "ECHCandidateCipherSuites": _ech_suites,
    "supportedDelegatedCredentialsAlgorithms": _string_list,
    "supportedSignatureAlgorithms": _string_list,
    "supportedVersions": _string_list,
    "recordSizeLimit": lambda value, where: _uint(value, where, 0xFFFF),
    "streamId": _uint,
    "allowHttp": _bool,
}


def certificate_pins(value: object, where: str) -> dict[str, list[str]]:
    """Host (or ``*.host`` for subdomains too) -> base64 SHA-256 pins of a
    certificate's public key (HPKP format, as ``openssl ... | base64``)."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(
            f"{where} must be a non-empty dict of host -> list of base64 SHA-256 pins, got {value!r}"
        )
    pins: dict[str, list[str]] = {}
    for host, host_pins in value.items():
        if not isinstance(host, str) or not _is_host_name(host.removeprefix("*.")):
            raise ValueError(
                f"{where}: {host!r} is not a host name or '*.' + host name (no scheme, port or path)"
            )
        items = _string_list(host_pins, f"{where}[{host!r}]")
        if not items:
            raise ValueError(f"{where}[{host!r}] must list at least one pin")
        for pin in items:
            try:
                digest = base64.b64decode(pin, validate=True)
            except binascii.Error:
                digest = b""
            if len(digest) != 32:
                raise ValueError(
                    f"{where}[{host!r}]: {pin!r} is not a base64 SHA-256 digest (44 characters ending in '=')"
                )
        pins[host.lower()] = items
    return pins


def server_name(value: object, where: str) -> str:
    """The TLS server name (SNI) to send instead of the URL's host; the
    certificate is then verified against this name."""
    if not isinstance(value, str) or not value or not _is_host_name(value):
        raise ValueError(f"{where} must be a DNS host name such as 'www.example.com', got {value!r}")
    return value


def _is_host_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and all(
        re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", label) for label in labels
    )


def header_order(value: object, where: str) -> list[str]:
    """Header names in the order to send them (lowercase; names the request
    lacks are skipped, headers not listed follow in their own order)."""
    names = _string_list(value, where)
    if not names:
        raise ValueError(f"{where} must list at least one header name, got {value!r}")
    for name in names:
        if not _TOKEN.match(name):
            raise ValueError(f"{where}: {name!r} is not a header name")
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError(f"{where} lists a header name twice: {names}")
    return lowered


class PinRegistry:
    """tls-client keeps certificate pins in one process-wide table keyed by
    host (pinner.go): the pin set a client registers last for a host is the
    one every pinning client checks. Two different pin sets for one host
    would silently replace each other, so the second is refused."""

    def __init__(self) -> None:
        self._pins: dict[str, list[str]] = {}

    def register(self, pins: Mapping[str, list[str]], where: str) -> None:
        for host, host_pins in pins.items():
            known = self._pins.setdefault(host, host_pins)
            if known != host_pins:
                raise ValueError(
                    f"{where}: {host!r} is already pinned to {known} in this process; tls-client keeps one "
                    "pin set per host per process, so every request to a host must use the same pins "
                    "(set them once in TLS_CLIENT_CERTIFICATE_PINS)"
                )


#: One per process, like the native table it mirrors.
PROCESS_PINS = PinRegistry()
