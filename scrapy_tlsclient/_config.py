"""Settings, read and validated once into a typed config.

The handler never calls ``settings.get`` after start-up; a bad value fails
the crawl at start with a message naming the setting and what it accepts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["DEFAULT_SETTINGS", "HandlerConfig"]

#: This package's settings and their defaults (docs/settings.rst).
DEFAULT_SETTINGS: dict[str, object] = {
    "TLS_CLIENT_LIBRARY_PATH": None,
    "TLS_CLIENT_MAX_SESSIONS": 64,
    "TLS_CLIENT_PROFILE": None,
    "TLS_CLIENT_DEBUG": False,
    "TLS_CLIENT_FORCE_HTTP1": False,
    "TLS_CLIENT_HTTP3": False,
}

#: Scrapy's own TLS settings that tls-client's browser profiles fix
#: themselves; a non-default value is reported and ignored.
_FIXED_BY_PROFILE = {
    "DOWNLOAD_TLS_MIN_VERSION": None,
    "DOWNLOAD_TLS_MAX_VERSION": None,
    "DOWNLOADER_CLIENT_TLS_METHOD": "TLS",
    "DOWNLOADER_CLIENT_TLS_CIPHERS": "DEFAULT",
}


@dataclass(frozen=True)
class HandlerConfig:
    """Everything the handler reads from the settings."""

    maxsize: int
    warnsize: int
    fail_on_dataloss: bool
    download_timeout: float
    tls_verbose_logging: bool
    verify_certificates: bool
    bind_address: tuple[str, int] | None
    proxy_auth_encoding: str
    concurrent_requests: int
    threads: int
    max_sessions: int
    library_path: str | None
    #: Default browser profile; None: the library's own default. Checked
    #: against the loaded library by the handler.
    profile: str | None
    #: tls-client's debug log for every request, in Scrapy's log.
    debug: bool
    #: Offer only HTTP/1.1 in ALPN.
    force_http1: bool
    #: Let profiles that offer h3 keep it (off: a browser's TCP ClientHello
    #: never offers h3; tls-client's chrome_133 does unless told not to).
    http3: bool

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> HandlerConfig:
        concurrent = _positive_int(settings, "CONCURRENT_REQUESTS")
        reactor_threads = _positive_int(settings, "REACTOR_THREADPOOL_MAXSIZE")
        max_sessions = _positive_int(settings, "TLS_CLIENT_MAX_SESSIONS")
        library_path = settings.get("TLS_CLIENT_LIBRARY_PATH", DEFAULT_SETTINGS["TLS_CLIENT_LIBRARY_PATH"])
        if library_path is not None and not isinstance(library_path, str):
            raise NotConfigured(
                f"TLS_CLIENT_LIBRARY_PATH must be a path string or None, got {library_path!r}"
            )
        profile = settings.get("TLS_CLIENT_PROFILE", DEFAULT_SETTINGS["TLS_CLIENT_PROFILE"])
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise NotConfigured(f"TLS_CLIENT_PROFILE must be a profile name string or None, got {profile!r}")
        for name, default in _FIXED_BY_PROFILE.items():
            if settings.get(name) != default:
                logger.warning(
                    "%s = %r is ignored by scrapy_tlsclient: the TLS versions and ciphers a request "
                    "offers are fixed by its tls-client browser profile.",
                    name,
                    settings.get(name),
                )
        return cls(
            maxsize=_non_negative_int(settings, "DOWNLOAD_MAXSIZE"),
            warnsize=_non_negative_int(settings, "DOWNLOAD_WARNSIZE"),
            fail_on_dataloss=settings.getbool("DOWNLOAD_FAIL_ON_DATALOSS"),
            download_timeout=settings.getfloat("DOWNLOAD_TIMEOUT"),
            tls_verbose_logging=settings.getbool("DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING"),
            verify_certificates=settings.getbool("DOWNLOAD_VERIFY_CERTIFICATES"),
            bind_address=_bind_address(settings.get("DOWNLOAD_BIND_ADDRESS"), "DOWNLOAD_BIND_ADDRESS"),
            proxy_auth_encoding=settings.get("HTTPPROXY_AUTH_ENCODING") or "latin-1",
            concurrent_requests=concurrent,
            # Each request in flight holds a thread while it waits in a
            # blocking native call; the rest is headroom for closing calls
            # (cancel, destroy) so they never queue behind downloads.
            threads=concurrent + reactor_threads,
            max_sessions=max_sessions,
            library_path=library_path,
            profile=profile,
            debug=_bool_setting(settings, "TLS_CLIENT_DEBUG"),
            force_http1=_bool_setting(settings, "TLS_CLIENT_FORCE_HTTP1"),
            http3=_bool_setting(settings, "TLS_CLIENT_HTTP3"),
        )


def _bool_setting(settings: BaseSettings, name: str) -> bool:
    try:
        return settings.getbool(name, bool(DEFAULT_SETTINGS.get(name)))
    except ValueError:
        raise NotConfigured(
            f"{name} must be a boolean (True/False, 1/0, 'true'/'false'), got {settings.get(name)!r}"
        ) from None


def _int_setting(settings: BaseSettings, name: str) -> int:
    value = settings.get(name, DEFAULT_SETTINGS.get(name))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotConfigured(f"{name} must be an integer, got {value!r}") from None


def _positive_int(settings: BaseSettings, name: str) -> int:
    value = _int_setting(settings, name)
    if value < 1:
        raise NotConfigured(f"{name} must be a positive integer, got {value!r}")
    return value


def _non_negative_int(settings: BaseSettings, name: str) -> int:
    value = _int_setting(settings, name)
    if value < 0:
        raise NotConfigured(f"{name} must be 0 (no limit) or a positive integer, got {value!r}")
    return value


def _bind_address(value: object, name: str) -> tuple[str, int] | None:
    """Scrapy accepts a host string or a (host, port) pair."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return (value, 0)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    ):
        return (value[0], value[1])
    raise NotConfigured(f"{name} must be a host string or a (host, port) pair, got {value!r}")


def bind_address_from_meta(value: object) -> tuple[str, int] | None:
    """The ``bindaddress`` meta key, same shapes as DOWNLOAD_BIND_ADDRESS."""
    try:
        return _bind_address(value, "The 'bindaddress' request meta key")
    except NotConfigured as exc:
        raise ValueError(str(exc)) from None
