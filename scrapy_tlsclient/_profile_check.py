"""``python -m scrapy_tlsclient profiles NAME --measure``: an identity's
fingerprints as this machine's library puts them on the wire, beside the
real browser's published ones. The library and its identity data change
with every build and every added file, so the published values alone do
not say what a crawl here sends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._identity_registry import identities_for
from .binding.library import get_library

if TYPE_CHECKING:
    from ._identities import Identity
    from .binding.measurement import Measurement

__all__ = ["comparison", "measure_identity"]


def measure_identity(name: str, extra_files: tuple[str, ...]) -> tuple[Identity, Measurement]:
    """Register the identities with the library and measure ``name`` with
    its own extension shuffling, as a crawl would send it. Raises
    IdentityFileError, KeyError for an unknown name, or the library's
    errors."""
    library = get_library()
    identity = identities_for(library, extra_files)[name]
    return identity, library.measure_profile(name, shuffle=identity.shuffle_extensions)


def comparison(identity: Identity, measured: Measurement) -> tuple[list[str], bool]:
    """Lines that set each measured value beside the published one, and
    whether every published value was matched."""
    published = identity.published
    rows = (
        ("JA4", measured.ja4, published.ja4 if published else None),
        ("JA3N", measured.ja3n_hash, published.ja3n if published else None),
        ("Akamai", measured.akamai, published.akamai if published else None),
    )
    lines = [f"measured with this library ({measured.http_version}):"]
    matches = True
    for label, value, reference in rows:
        if reference is None:
            verdict = "(nothing published)"
        elif value == reference:
            verdict = "= published"
        else:
            verdict = "DIFFERS from published"
            matches = False
        lines.append(f"measured {label + ':':8} {value}  {verdict}")
    return lines, matches
