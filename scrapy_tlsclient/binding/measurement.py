"""What the library's ``measureProfile`` export saw a profile put on the
wire (docs/abi.rst, "measureProfile")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Measurement", "measurement_from_envelope"]


@dataclass(frozen=True)
class Measurement:
    """The fingerprints of one request a profile made, as its server saw them."""

    ja3: str
    ja3n: str
    #: MD5 of ``ja3n``, the form published captures give.
    ja3n_hash: str
    ja4: str
    #: ``"-"`` when the request went over HTTP/1.1.
    akamai: str
    #: ``"h2"`` or ``"http/1.1"``.
    http_version: str


def measurement_from_envelope(envelope: dict[str, Any]) -> Measurement:
    return Measurement(
        ja3=str(envelope["ja3"]),
        ja3n=str(envelope["ja3n"]),
        ja3n_hash=str(envelope["ja3nHash"]),
        ja4=str(envelope["ja4"]),
        akamai=str(envelope["akamai"]),
        http_version=str(envelope["httpVersion"]),
    )
