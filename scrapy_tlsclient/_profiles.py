"""Browser profile names: refused when unknown (the library itself would
silently fall back to its default profile)."""

from __future__ import annotations

import difflib
from collections.abc import Collection

__all__ = ["KNOWN_BAD_PROFILES", "check_profile", "profile_problem"]


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
        "listed by python -m scrapy_tlsclient profiles --all"
    )


#: Profiles whose fingerprint differs from the real browser's, measured on
#: loopback against published values (docs/profiles.rst). Keyed by name;
#: ``_PSK`` variants share the ClientHello of their base profile.
KNOWN_BAD_PROFILES = {
    "chrome_146": (
        "its JA3 differs from the one published for Chrome 146, and one report gives real Chrome 146 "
        "a JA4 of t13d1517h2_8daaf6152771_b6f405a00624 where this profile sends ..._dcad5a053991"
    ),
    "firefox_147": (
        "it lacks a signature algorithm (0x0203) that real Firefox 147 offers, so its JA4 "
        "(t13d1717h2_5b57614c22b0_68c5a8c2958d) differs from the browser's (..._3cbfd9057e0d)"
    ),
    "firefox_148": (
        "it offers 19 cipher suites where real Firefox 148 offers 17, so its JA3 and JA4 "
        "(t13d1917h2_4d8ed5baf28e_3cbfd9057e0d) differ from the browser's (t13d1717h2_5b57614c22b0_...)"
    ),
}
#: Profiles that offer h3 in the TCP ClientHello's ALPN unless HTTP/3 is
#: disabled; no real browser does.
H3_IN_TCP_ALPN = frozenset({"chrome_133", "chrome_133_PSK"})


def profile_problem(name: str, *, http3: bool) -> str | None:
    """Why ``name`` does not look like its browser, or None."""
    if http3 and name in H3_IN_TCP_ALPN:
        return (
            "with HTTP/3 enabled it offers 'h3' in the TCP ClientHello's ALPN (JA4 ...h3_...), which no real "
            "Chrome does; leave TLS_CLIENT_HTTP3 / tls_client_http3 off"
        )
    return KNOWN_BAD_PROFILES.get(name.removesuffix("_PSK"))
