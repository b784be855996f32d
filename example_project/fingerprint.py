"""JA3 and JA4 of a raw TLS ClientHello (the FoxIO JA4 spec; GREASE values
ignored, as both specs say) and the Akamai fingerprint of an HTTP/2
connection's preamble, for the demo site's /fingerprint page."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from hpack import Decoder


@dataclass
class ClientHello:
    legacy_version: int = 0
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    alpn: list[str] = field(default_factory=list)
    server_name: str = ""


def is_grease(value: int) -> bool:
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def parse_client_hello(record: bytes) -> ClientHello:
    """Parse the first TLS record (a ClientHello); ValueError if it is not one."""
    if len(record) < 9 or record[0] != 0x16 or record[5] != 0x01:
        raise ValueError("not a TLS ClientHello")
    body = record[9 : 9 + int.from_bytes(record[6:9], "big")]
    hello = ClientHello(legacy_version=int.from_bytes(body[0:2], "big"))
    at = 34
    at += 1 + body[at]  # session id
    length = int.from_bytes(body[at : at + 2], "big")
    hello.ciphers = list(struct.unpack(f">{length // 2}H", body[at + 2 : at + 2 + length]))
    at += 2 + length
    at += 1 + body[at]  # compression methods
    end = at + 2 + int.from_bytes(body[at : at + 2], "big")
    at += 2
    while at + 4 <= end:
        kind, size = struct.unpack(">HH", body[at : at + 4])
        data = body[at + 4 : at + 4 + size]
        hello.extensions.append(kind)
        _read_extension(hello, kind, data)
        at += 4 + size
    return hello


def _read_extension(hello: ClientHello, kind: int, data: bytes) -> None:
    if kind == 0x0000 and len(data) > 5:  # server_name
        hello.server_name = data[5 : 5 + int.from_bytes(data[3:5], "big")].decode("ascii", "replace")
    elif kind == 0x000A:  # supported_groups
        hello.groups = list(struct.unpack(f">{(len(data) - 2) // 2}H", data[2:]))
    elif kind == 0x000B:  # ec_point_formats
        hello.point_formats = list(data[1 : 1 + data[0]])
    elif kind == 0x000D:  # signature_algorithms
        hello.signature_algorithms = list(struct.unpack(f">{(len(data) - 2) // 2}H", data[2:]))
    elif kind == 0x002B:  # supported_versions
        hello.versions = list(struct.unpack(f">{data[0] // 2}H", data[1 : 1 + data[0]]))
    elif kind == 0x0010:  # ALPN
        at = 2
        while at < len(data):
            size = data[at]
            hello.alpn.append(data[at + 1 : at + 1 + size].decode("ascii", "replace"))
            at += 1 + size


def ja3(hello: ClientHello) -> tuple[str, str]:
    def join(values: list[int]) -> str:
        return "-".join(str(v) for v in values if not is_grease(v))

    text = ",".join(
        [
            str(hello.legacy_version),
            join(hello.ciphers),
            join(hello.extensions),
            join(hello.groups),
            join(hello.point_formats),
        ]
    )
    return text, hashlib.md5(text.encode()).hexdigest()


def ja4(hello: ClientHello) -> str:
    versions = [v for v in hello.versions if not is_grease(v)] or [hello.legacy_version]
    version = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}.get(max(versions), "00")
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    extensions = [e for e in hello.extensions if not is_grease(e)]
    first = hello.alpn[0] if hello.alpn else ""
    alpn = (first[0] + first[-1]) if first and first[0].isalnum() and first[-1].isalnum() else "00"
    sni = "d" if hello.server_name else "i"
    head = f"t{version}{sni}{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{alpn}"
    cipher_hash = _hash12(",".join(f"{c:04x}" for c in sorted(ciphers)))
    rest = ",".join(f"{e:04x}" for e in sorted(e for e in extensions if e not in (0x0000, 0x0010)))
    sigs = ",".join(f"{s:04x}" for s in hello.signature_algorithms if not is_grease(s))
    extension_hash = _hash12(f"{rest}_{sigs}" if sigs else rest)
    return f"{head}_{cipher_hash}_{extension_hash}"


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "000000000000"


#: The request pseudo headers Akamai's fingerprint names, as its letters.
PSEUDO_HEADER_LETTERS = {":method": "m", ":authority": "a", ":scheme": "s", ":path": "p"}
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: A client whose first header block has not come in this many bytes is not fingerprinted.
MAX_H2_PREAMBLE = 1 << 20


class H2Preamble:
    """Akamai's HTTP/2 fingerprint (Shuster and Segal, "Passive
    Fingerprinting of HTTP/2 Clients", Black Hat EU 2017) of what a client
    sends before its first request::

        SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO_HEADER_ORDER

    Feed it the connection's plaintext as it arrives; :attr:`akamai` is set
    once the first header block is complete. Written as the project's Go
    fingerprint code computes it (native/fingerprint/h2.go), which the
    handler's tests check against the real browsers' published values."""

    def __init__(self) -> None:
        self._buffer = b""
        self._settings: list[tuple[int, int]] | None = None
        self._window: int | None = None
        self._priorities: list[str] = []
        self._block = b""
        self._block_stream = 0
        self.akamai: str | None = None
        self.failed = False

    def feed(self, data: bytes) -> None:
        if self.akamai is not None or self.failed:
            return
        self._buffer += data
        if len(self._buffer) > MAX_H2_PREAMBLE:
            self.failed = True
            return
        if not self._buffer.startswith(H2_PREFACE):
            self.failed = len(self._buffer) >= len(H2_PREFACE) or not H2_PREFACE.startswith(self._buffer)
            return
        at = len(H2_PREFACE)
        while at + 9 <= len(self._buffer) and self.akamai is None and not self.failed:
            length = int.from_bytes(self._buffer[at : at + 3], "big")
            if at + 9 + length > len(self._buffer):
                break
            kind, flags = self._buffer[at + 3], self._buffer[at + 4]
            stream = int.from_bytes(self._buffer[at + 5 : at + 9], "big") & 0x7FFFFFFF
            self._frame(kind, flags, stream, self._buffer[at + 9 : at + 9 + length])
            at += 9 + length
        self._buffer = H2_PREFACE + self._buffer[at:]

    def _frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if self._block_stream:
            # RFC 9113 6.10: only CONTINUATION frames may follow until the block ends.
            self.failed = kind != 0x9 or stream != self._block_stream
            if not self.failed:
                self._fragment(flags, payload)
        elif kind == 0x4 and not flags & 0x1 and self._settings is None:  # SETTINGS, not an ACK
            self._settings = [
                (int.from_bytes(payload[i : i + 2], "big"), int.from_bytes(payload[i + 2 : i + 6], "big"))
                for i in range(0, len(payload) - 5, 6)
            ]
        elif kind == 0x8 and stream == 0 and self._window is None and len(payload) == 4:  # WINDOW_UPDATE
            self._window = int.from_bytes(payload, "big") & 0x7FFFFFFF
        elif kind == 0x2 and len(payload) == 5:  # PRIORITY
            dependency = int.from_bytes(payload[:4], "big")
            exclusive = 1 if dependency & 0x80000000 else 0
            self._priorities.append(f"{stream}:{exclusive}:{dependency & 0x7FFFFFFF}:{payload[4] + 1}")
        elif kind == 0x1 and stream:  # HEADERS: padding and priority fields stripped (RFC 9113 6.2)
            padding = 0
            if flags & 0x8:
                padding, payload = payload[0], payload[1:]
            if flags & 0x20:
                payload = payload[5:]
            self._block_stream = stream
            self._fragment(flags, payload[: len(payload) - padding])

    def _fragment(self, flags: int, fragment: bytes) -> None:
        self._block += fragment
        if not flags & 0x4:  # END_HEADERS
            return
        names = [name for name, _ in Decoder().decode(self._block)]
        settings = ";".join(f"{key}:{value}" for key, value in self._settings or [])
        window = "00" if self._window is None else str(self._window)
        pseudo = ",".join(PSEUDO_HEADER_LETTERS[name] for name in names if name in PSEUDO_HEADER_LETTERS)
        self.akamai = "|".join([settings, window, ",".join(self._priorities) or "0", pseudo])
