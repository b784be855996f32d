"""Settings, read and validated once into a typed config.

The handler never calls ``settings.get`` after start-up; a bad value fails
the crawl at start with a message naming the setting and what it accepts.
"""

from __future__ import annotations

import codecs
import logging
import os
import sys
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ._failover_settings import FAILOVER_DEFAULTS, FailoverSettings
from ._profiles import check_profile
from ._tls_options import certificate_pins, custom_tls

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from scrapy.settings import BaseSettings

logger = logging.getLogger("scrapy_tlsclient")

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_SETTINGS",
    "STOPPED_MESSAGE",
    "HandlerConfig",
    "TLSClientSettingsError",
    "resume_dir",
    "ssl_key_log_file",
    "warn_ignored_tls_settings",
]


class TLSClientSettingsError(ValueError):
    """A setting has a value scrapy_tlsclient cannot work with.

    Deliberately not ``NotConfigured``: Scrapy answers that by quietly
    disabling the component and crawling on without it, where a bad setting
    must stop the crawl at start (docs/settings.rst)."""

    __module__ = "scrapy_tlsclient"


#: What the TLSClientSettingsError raised past Scrapy says, after the one
#: error line that names the setting or the library that is missing.
STOPPED_MESSAGE = (
    "scrapy_tlsclient cannot start with these settings or this installation "
    "(the error logged above names the setting, or the library that cannot be loaded)"
)


def stopped_error() -> TLSClientSettingsError:
    """The error that stops a crawl at start, once its cause is logged.

    Scrapy does not retrieve the failure of a crawl that cannot start: the
    loop logs it with a traceback through Scrapy's code (asyncio's "Task
    exception was never retrieved", Twisted's "Unhandled error in
    Deferred", twice), some 30 lines after the one that says what is
    wrong. Those echoes of this error say nothing more, so they are left
    out of the log; ``scrapy crawl`` still exits 1."""
    for name in ("asyncio", "twisted"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _StoppedEcho) for f in target.filters):
            target.addFilter(_StoppedEcho())
    return TLSClientSettingsError(STOPPED_MESSAGE)


class _StoppedEcho(logging.Filter):
    """Drops a loop's report of the error stopped_error made."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TLSClientSettingsError) and str(error) == STOPPED_MESSAGE:
            return False
        return STOPPED_MESSAGE not in record.getMessage()


#: A current Chrome whose JA4 and Akamai fingerprints match the real
#: browser's published values (docs/profiles.rst).
DEFAULT_PROFILE = "chrome_156_windows"

#: This package's settings and their defaults (docs/settings.rst).
DEFAULT_SETTINGS: dict[str, object] = {
    "TLS_CLIENT_LIBRARY_PATH": None,
    "TLS_CLIENT_MAX_SESSIONS": 64,
    "TLS_CLIENT_PROFILE": DEFAULT_PROFILE,
    "TLS_CLIENT_BROWSER_HEADERS": True,
    "TLS_CLIENT_RANDOM_TLS_EXTENSION_ORDER": None,
    "TLS_CLIENT_CUSTOM_TLS": None,
    "TLS_CLIENT_CERTIFICATE_PINS": None,
    "TLS_CLIENT_DEBUG": False,
    "TLS_CLIENT_FORCE_HTTP1": False,
    "TLS_CLIENT_HTTP3": False,
    "TLS_CLIENT_PROGRESS_INTERVAL": 10.0,
    "TLS_CLIENT_IDENTITY_FILES": [],
    "TLS_CLIENT_RESUME": True,
    "TLS_CLIENT_RESUME_DIR": None,
    # A week: long enough for a crawl paused over a weekend, short enough
    # that abandoned gigabytes do not pile up.
    "TLS_CLIENT_RESUME_MAX_AGE": 7 * 24 * 3600.0,
    **FAILOVER_DEFAULTS,
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
    #: against the loaded library by the handler and the middleware.
    profile: str | None
    #: The middleware gives requests the profile's browser headers.
    browser_headers: bool
    #: Shuffle TLS extensions per connection; None: as the profile's
    #: browser does (Chromium browsers do).
    random_extension_order: bool | None
    #: A customTlsClient spec used instead of the profile.
    custom_tls: dict[str, object] | None
    #: Host -> SHA-256 public-key pins.
    certificate_pins: dict[str, list[str]] | None
    #: tls-client's debug log for every request, in Scrapy's log.
    debug: bool
    #: Offer only HTTP/1.1 in ALPN.
    force_http1: bool
    #: Let profiles that offer h3 keep it (off: a browser's TCP ClientHello
    #: never offers h3; tls-client's chrome_133 does unless told not to).
    http3: bool
    #: Seconds between progress lines of a body_file download; 0: none.
    progress_interval: float
    #: Identity files loaded beside the packaged ones.
    identity_files: tuple[str, ...] = ()
    #: A cut body_file download keeps its bytes and the retry asks for
    #: the rest (docs/files.rst, "Resuming").
    resume: bool = True
    #: Where partial files' records survive the process (TLS_CLIENT_RESUME_DIR,
    #: else JOBDIR/tls_client_resume); None: kept in memory, removed at close.
    resume_dir: str | None = None
    #: Seconds after which a record and its partial file are stale.
    resume_max_age: float = DEFAULT_SETTINGS["TLS_CLIENT_RESUME_MAX_AGE"]  # type: ignore[assignment]
    #: Scrapy's REDIRECT_ENABLED: a body_file response RedirectMiddleware
    #: will follow is not written to the file.
    redirect_enabled: bool = True
    #: Where the library appends TLS key lines; None: nowhere. The
    #: handler sets it from SSLKEYLOGFILE when it is created
    #: (ssl_key_log_file below), as Scrapy's handlers read it.
    ssl_key_log_file: str | None = None
    #: The failover middleware's settings (checked here so a bad one stops
    #: the crawl whichever component reads the settings first).
    failover: FailoverSettings | None = None

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> HandlerConfig:
        concurrent = _positive_int(settings, "CONCURRENT_REQUESTS")
        reactor_threads = _positive_int(settings, "REACTOR_THREADPOOL_MAXSIZE")
        max_sessions = _positive_int(settings, "TLS_CLIENT_MAX_SESSIONS")
        library_path = settings.get("TLS_CLIENT_LIBRARY_PATH", DEFAULT_SETTINGS["TLS_CLIENT_LIBRARY_PATH"])
        if library_path is not None and (not isinstance(library_path, str) or not library_path):
            raise TLSClientSettingsError(
                f"TLS_CLIENT_LIBRARY_PATH must be a path string or None (the packaged library), "
                f"got {library_path!r}"
            )
        profile = settings.get("TLS_CLIENT_PROFILE", DEFAULT_SETTINGS["TLS_CLIENT_PROFILE"])
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise TLSClientSettingsError(
                f"TLS_CLIENT_PROFILE must be a profile name string or None, got {profile!r}"
            )
        return cls(
            maxsize=_non_negative_int(settings, "DOWNLOAD_MAXSIZE"),
            warnsize=_non_negative_int(settings, "DOWNLOAD_WARNSIZE"),
            fail_on_dataloss=settings.getbool("DOWNLOAD_FAIL_ON_DATALOSS"),
            download_timeout=_download_timeout(settings),
            tls_verbose_logging=settings.getbool("DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING"),
            verify_certificates=settings.getbool("DOWNLOAD_VERIFY_CERTIFICATES"),
            bind_address=_bind_address(settings.get("DOWNLOAD_BIND_ADDRESS"), "DOWNLOAD_BIND_ADDRESS"),
            proxy_auth_encoding=_encoding(settings, "HTTPPROXY_AUTH_ENCODING", "latin-1"),
            concurrent_requests=concurrent,
            # Each request in flight holds a thread while it waits in a
            # blocking native call; the rest is headroom for closing calls
            # (cancel, destroy) so they never queue behind downloads.
            threads=concurrent + reactor_threads,
            max_sessions=max_sessions,
            library_path=library_path,
            profile=profile,
            browser_headers=_bool_setting(settings, "TLS_CLIENT_BROWSER_HEADERS"),
            random_extension_order=_optional_bool_setting(settings, "TLS_CLIENT_RANDOM_TLS_EXTENSION_ORDER"),
            custom_tls=_checked(settings, "TLS_CLIENT_CUSTOM_TLS", custom_tls),
            certificate_pins=_checked(settings, "TLS_CLIENT_CERTIFICATE_PINS", certificate_pins),
            debug=_bool_setting(settings, "TLS_CLIENT_DEBUG"),
            force_http1=_bool_setting(settings, "TLS_CLIENT_FORCE_HTTP1"),
            http3=_bool_setting(settings, "TLS_CLIENT_HTTP3"),
            progress_interval=_seconds(settings, "TLS_CLIENT_PROGRESS_INTERVAL"),
            identity_files=_paths(settings, "TLS_CLIENT_IDENTITY_FILES"),
            resume=_bool_setting(settings, "TLS_CLIENT_RESUME"),
            resume_dir=resume_dir(settings),
            resume_max_age=_seconds(settings, "TLS_CLIENT_RESUME_MAX_AGE"),
            redirect_enabled=settings.getbool("REDIRECT_ENABLED"),
            failover=_checked_failover(settings),
        )

    def with_profile_of(self, profiles: Collection[str], default_profile: str) -> HandlerConfig:
        """This config with TLS_CLIENT_PROFILE checked against the loaded
        library's profiles (None: the library's default)."""
        if self.profile is None:
            # The mapping needs the name to choose browser-like options.
            return replace(self, profile=default_profile)
        try:
            check_profile(self.profile, profiles, "The TLS_CLIENT_PROFILE setting")
        except ValueError as exc:
            raise TLSClientSettingsError(str(exc)) from None
        return self


def ssl_key_log_file() -> str | None:
    """$SSLKEYLOGFILE now, if it names a file that can be appended to;
    otherwise None, with Scrapy's warning when it is set but unwritable.

    Read by each handler when it is created, like Scrapy's own handlers:
    the library's environment is fixed when it is loaded, so the path is
    passed with each client's options instead (docs/abi.rst)."""
    if sys.flags.ignore_environment:
        return None
    path = os.environ.get("SSLKEYLOGFILE")
    if not path:
        return None
    try:
        with Path(path).open("ab"):
            pass
    except OSError as exc:
        logger.warning("Cannot write TLS session keys to %s: %s", path, exc)
        return None
    return path


def warn_ignored_tls_settings(settings: BaseSettings) -> None:
    for name, default in _FIXED_BY_PROFILE.items():
        if settings.get(name) != default:
            logger.warning(
                "%s = %r is ignored by scrapy_tlsclient: the TLS versions and ciphers a request "
                "offers are fixed by its tls-client browser profile.",
                name,
                settings.get(name),
            )


_T = TypeVar("_T")


def _checked(settings: BaseSettings, name: str, check: Callable[[object, str], _T]) -> _T | None:
    value = settings.get(name, DEFAULT_SETTINGS.get(name))
    if value is None:
        return None
    try:
        return check(value, name)
    except ValueError as exc:
        raise TLSClientSettingsError(str(exc)) from None


def _checked_failover(settings: BaseSettings) -> FailoverSettings:
    try:
        return FailoverSettings.from_settings(settings)
    except ValueError as exc:
        raise TLSClientSettingsError(str(exc)) from None


def _optional_bool_setting(settings: BaseSettings, name: str) -> bool | None:
    value = settings.get(name, DEFAULT_SETTINGS.get(name))
    if value is None or value == "":
        return None
    return _bool_setting(settings, name)


def _bool_setting(settings: BaseSettings, name: str) -> bool:
    value = settings.get(name, DEFAULT_SETTINGS.get(name))
    # Settings given on the command line (-s NAME=...) arrive as strings.
    # True == 1 and False == 0 as dict keys, so 1/0 are accepted too.
    accepted = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}
    key = value.lower() if isinstance(value, str) else value
    try:
        return accepted[key]
    except (KeyError, TypeError):
        raise TLSClientSettingsError(
            f"{name} must be a boolean (True/False, 1/0, 'true'/'false'), got {value!r}"
        ) from None


def _int_setting(settings: BaseSettings, name: str) -> int:
    value = settings.get(name, DEFAULT_SETTINGS.get(name))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TLSClientSettingsError(f"{name} must be an integer, got {value!r}") from None


def _positive_int(settings: BaseSettings, name: str) -> int:
    value = _int_setting(settings, name)
    if value < 1:
        raise TLSClientSettingsError(f"{name} must be a positive integer, got {value!r}")
    return value


def _seconds(settings: BaseSettings, name: str) -> float:
    value = settings.get(name, DEFAULT_SETTINGS[name])
    if isinstance(value, str):
        with suppress(ValueError):
            value = float(value)  # from the command line (-s NAME=5)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise TLSClientSettingsError(f"{name} must be a number of seconds, 0 or more (0: off), got {value!r}")
    return float(value)


def resume_dir(settings: BaseSettings) -> str | None:
    """Where resumable downloads keep their records between runs:
    TLS_CLIENT_RESUME_DIR, else ``JOBDIR/tls_client_resume``, else None (in
    memory for this crawl only). Not created here."""
    value = settings.get("TLS_CLIENT_RESUME_DIR", DEFAULT_SETTINGS["TLS_CLIENT_RESUME_DIR"])
    if value is not None and (not isinstance(value, (str, os.PathLike)) or not str(value)):
        raise TLSClientSettingsError(
            f"TLS_CLIENT_RESUME_DIR must be a directory path or None (JOBDIR/tls_client_resume when "
            f"JOBDIR is set), got {value!r}"
        )
    if value is not None:
        return str(value)
    job = settings.get("JOBDIR")
    return str(Path(job) / "tls_client_resume") if job else None


def _download_timeout(settings: BaseSettings) -> float:
    try:
        value = settings.getfloat("DOWNLOAD_TIMEOUT")
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise TLSClientSettingsError(
            "DOWNLOAD_TIMEOUT must be a positive number of seconds, got "
            f"{settings.get('DOWNLOAD_TIMEOUT')!r} (for requests with no deadline, set the "
            "'tls_client_no_deadline' request meta key)"
        )
    return value


def _paths(settings: BaseSettings, name: str) -> tuple[str, ...]:
    value = settings.get(name, DEFAULT_SETTINGS[name])
    if isinstance(value, str):
        value = [part for part in value.split(",") if part]  # -s NAME=a.json,b.json
    if not isinstance(value, (list, tuple)) or not all(isinstance(path, str) and path for path in value):
        raise TLSClientSettingsError(f"{name} must be a list of identity file paths, got {value!r}")
    return tuple(value)


def _encoding(settings: BaseSettings, name: str, default: str) -> str:
    value = settings.get(name) or default
    try:
        codecs.lookup(value)
    except (LookupError, TypeError):
        message = f"{name} must name a Python text encoding (e.g. 'latin-1'), got {value!r}"
        raise TLSClientSettingsError(message) from None
    return str(value)


def _non_negative_int(settings: BaseSettings, name: str) -> int:
    value = _int_setting(settings, name)
    if value < 0:
        raise TLSClientSettingsError(f"{name} must be 0 (no limit) or a positive integer, got {value!r}")
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
        and not isinstance(value[1], bool)
        and 0 <= value[1] <= 65535
    ):
        return (value[0], value[1])
    raise TLSClientSettingsError(
        f"{name} must be a host string or a (host, port) pair with a port from 0 to 65535, got {value!r}"
    )


def bind_address_from_meta(value: object) -> tuple[str, int] | None:
    """The ``bindaddress`` meta key, same shapes as DOWNLOAD_BIND_ADDRESS."""
    try:
        return _bind_address(value, "The 'bindaddress' request meta key")
    except TLSClientSettingsError as exc:
        raise ValueError(str(exc)) from None
