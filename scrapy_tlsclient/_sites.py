"""The site a request belongs to, for the failover middleware: its
registrable domain (``www.example.co.uk`` -> ``example.co.uk``) or its host
name. Bot protection is bought per site and usually fronts all its hosts,
so one verdict holds for the registrable domain."""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from tldextract import TLDExtract

__all__ = ["site_of"]

# Scrapy depends on tldextract (for its cookie domains). Without
# suffix_list_urls it reads the public suffix list it ships, never the
# network; private suffixes count, so user.github.io is a site of its own.
_extract = TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def site_of(url: str, mode: str) -> str:
    """``mode`` "domain": the registrable domain, or the host when it has
    none (an IP address, localhost); "host": the host name."""
    host = (urlsplit(url).hostname or "").lower()
    if mode == "host":
        return host
    return _registrable(host)


@cache
def _registrable(host: str) -> str:
    parts = _extract(host)
    domain: str = getattr(parts, "top_domain_under_public_suffix", None) or parts.registered_domain
    return domain or host
