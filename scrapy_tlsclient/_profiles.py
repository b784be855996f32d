"""Browser profile names: refused when unknown (the library itself would
silently fall back to its default profile)."""

from __future__ import annotations

import difflib
from collections.abc import Collection

__all__ = ["check_profile"]


def check_profile(name: object, known: Collection[str], where: str) -> str:
    """Return ``name`` if the library has that profile, else raise
    ValueError naming ``where`` (the setting or meta key), close matches and
    where to find the full list."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where} must be a non-empty profile name string, got {name!r}")
    if name in known:
        return name
    close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.6)
    hint = f"close matches: {', '.join(close)}" if close else "no close match"
    raise ValueError(
        f"{where}: unknown tls-client profile {name!r} ({hint}). The {len(known)} valid names are "
        f'listed by python -c "import scrapy_tlsclient as t; print(sorted(t.get_library().info.profiles))"'
    )
