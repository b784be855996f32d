"""The failover middleware's settings and meta keys, read and checked once
(docs/failover.rst). Pure: settings in, a typed value or a ValueError
naming the setting and what it accepts out. The pool's names are checked
against the loaded library by the middleware, where the library is."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.utils.misc import load_object

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

__all__ = [
    "FAILOVER_DEFAULTS",
    "SITE_MODES",
    "FailoverSettings",
    "check_failover_meta",
]

#: The failover settings and their defaults (docs/settings.rst).
FAILOVER_DEFAULTS: dict[str, object] = {
    "TLS_CLIENT_FAILOVER_POOL": None,
    "TLS_CLIENT_FAILOVER_BLOCK_CODES": [403, 429, 503],
    "TLS_CLIENT_FAILOVER_BLOCK_CHECK": None,
    # A minute: short enough that a crawl waiting on it does not look hung,
    # long enough that a per-minute rate limit has let the identity go.
    "TLS_CLIENT_FAILOVER_COOLDOWN": 60.0,
    "TLS_CLIENT_FAILOVER_MAX_COOLDOWN": 3600.0,
    "TLS_CLIENT_FAILOVER_SITE": "domain",
    "TLS_CLIENT_FAILOVER_PROXY": None,
}

#: TLS_CLIENT_FAILOVER_SITE's names: the registrable domain (public suffix
#: list) or the host name.
SITE_MODES = ("domain", "host")

#: A user's block test: (response, request) -> a reason (str), True
#: (blocked), False (not blocked, whatever the defaults say) or None (the
#: defaults decide).
BlockCheck = Callable[[Any, Any], "str | bool | None"]
#: A user's proxy choice: (site, identity) -> a proxy URL or None.
ProxyHook = Callable[[str, str], "str | None"]
#: A user's site key: (request) -> str.
SiteHook = Callable[[Any], str]


@dataclass(frozen=True)
class FailoverSettings:
    #: Identity names in order of preference; None: every packaged
    #: identity, TLS_CLIENT_PROFILE first.
    pool: tuple[str, ...] | None
    block_codes: frozenset[int]
    block_check: BlockCheck | None
    cooldown: float
    max_cooldown: float
    site: str | SiteHook
    proxy: ProxyHook | None

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> FailoverSettings:
        """Raises ValueError naming the setting and what it accepts."""
        cooldown = _seconds(settings, "TLS_CLIENT_FAILOVER_COOLDOWN")
        max_cooldown = _seconds(settings, "TLS_CLIENT_FAILOVER_MAX_COOLDOWN")
        if max_cooldown < cooldown:
            raise ValueError(
                f"TLS_CLIENT_FAILOVER_MAX_COOLDOWN ({max_cooldown:g}) must be at least "
                f"TLS_CLIENT_FAILOVER_COOLDOWN ({cooldown:g})"
            )
        return cls(
            pool=_pool(_get(settings, "TLS_CLIENT_FAILOVER_POOL")),
            block_codes=_codes(_get(settings, "TLS_CLIENT_FAILOVER_BLOCK_CODES")),
            block_check=_hook(settings, "TLS_CLIENT_FAILOVER_BLOCK_CHECK", "(response, request)"),
            cooldown=cooldown,
            max_cooldown=max_cooldown,
            site=_site(settings),
            proxy=_hook(settings, "TLS_CLIENT_FAILOVER_PROXY", "(site, identity)"),
        )


def _get(settings: BaseSettings, name: str) -> object:
    return settings.get(name, FAILOVER_DEFAULTS[name])


def _pool(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]  # -s NAME=a,b
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(name, str) and name for name in value)
    ):
        raise ValueError(
            "TLS_CLIENT_FAILOVER_POOL must be a non-empty list of identity names (or None: every packaged "
            f"identity), got {value!r}"
        )
    duplicates = sorted({name for name in value if value.count(name) > 1})
    if duplicates:
        raise ValueError(f"TLS_CLIENT_FAILOVER_POOL lists {', '.join(duplicates)} more than once")
    return tuple(value)


def _codes(value: object) -> frozenset[int]:
    if isinstance(value, str):
        with suppress(ValueError):
            value = [int(part) for part in value.split(",") if part.strip()]  # -s NAME=403,429
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in value
    ):
        raise ValueError(
            f"TLS_CLIENT_FAILOVER_BLOCK_CODES must be a list of HTTP status codes (100-599), got {value!r}"
        )
    return frozenset(value)


def _seconds(settings: BaseSettings, name: str) -> float:
    value = _get(settings, name)
    if isinstance(value, str):
        with suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _hook(settings: BaseSettings, name: str, arguments: str) -> Any:
    value = _get(settings, name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = load_object(value)
        except (ImportError, NameError, ValueError) as exc:
            raise ValueError(f"{name} must be a callable {arguments} or its import path: {exc}") from None
    if not callable(value):
        raise ValueError(f"{name} must be a callable {arguments} or its import path, got {value!r}")
    return value


def _site(settings: BaseSettings) -> str | SiteHook:
    value = _get(settings, "TLS_CLIENT_FAILOVER_SITE")
    if value in SITE_MODES:
        return str(value)
    if isinstance(value, str) and "." in value:
        hook: SiteHook = _hook(settings, "TLS_CLIENT_FAILOVER_SITE", "(request)")
        return hook
    if callable(value):
        return value
    raise ValueError(
        f"TLS_CLIENT_FAILOVER_SITE must be 'domain', 'host' or a callable (request) -> str (or its "
        f"import path), got {value!r}"
    )


def check_failover_meta(meta: Mapping[str, object]) -> None:
    """Refuse bad values of the failover's meta keys (docs/meta.rst)."""
    if "tls_client_failover" in meta and not isinstance(meta["tls_client_failover"], bool):
        value = meta["tls_client_failover"]
        raise ValueError(f"The 'tls_client_failover' request meta key must be True or False, got {value!r}")
    if "tls_client_identity" in meta:
        value = meta["tls_client_identity"]
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"The 'tls_client_identity' request meta key must be a non-empty identity name string "
                f"(it is set by FailoverMiddleware), got {value!r}"
            )
