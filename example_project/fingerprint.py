"""JA3 and JA4 of a raw TLS ClientHello, for the demo site's /fingerprint
page (the FoxIO JA4 spec; GREASE values ignored, as both specs say)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field


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
