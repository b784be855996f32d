"""The downloader middleware: browser-consistent headers per profile.

The handler maps every ``tls_client_*`` meta key onto the native input
itself (``_request_input``), so fingerprints work without this middleware.
What the middleware adds is what a browser with that fingerprint would send
on top: its User-Agent, Accept..., sec-ch-ua... headers, in its order. It
must run after every built-in middleware that sets headers (DefaultHeaders
400, UserAgent 500, HttpCompression 590, Cookies 700, HttpProxy 750), so it
sees the final header set: enable it at 950 (docs/middleware.rst).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.settings import default_settings

from ._browsers import (
    BrowserHeaders,
    accept_encoding,
    browser_for,
    incoherences,
    order_headers,
    request_kind,
    wants_browser_headers,
)
from ._config import HandlerConfig, TLSClientSettingsError, stopped_error
from ._identity_registry import crawl_setup
from ._profiles import check_profile, profile_problem

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger("scrapy_tlsclient")
_SCRAPY_USER_AGENT = default_settings.USER_AGENT.encode()

__all__ = ["TLSClientMiddleware"]


class TLSClientMiddleware:
    """Gives each request the headers of its profile's browser."""

    def __init__(self, config: HandlerConfig, profiles: frozenset[str]) -> None:
        self._config = config
        self._profiles = profiles
        self._warned: set[tuple[str, bool]] = set()
        #: (profile, what) pairs already reported, so each is logged once.
        self._reported: set[tuple[str, str]] = set()
        self._browser_headers = BrowserHeaders()
        if config.custom_tls is None and config.profile is not None:
            self._warn_once(config.profile, "TLS_CLIENT_PROFILE")
            browser = browser_for(config.profile)
            if browser is None:
                logger.info(
                    "TLS_CLIENT_PROFILE %r imitates an app, not a browser: requests keep the headers Scrapy "
                    "gives them (set USER_AGENT to the app's).",
                    config.profile,
                )
            elif (
                config.browser_headers
                and accept_encoding(browser) != dict(browser.headers)["accept-encoding"]
            ):
                logger.info(
                    "Requests offer Accept-Encoding: %s, not %s as %s does: Scrapy here cannot decode the "
                    "rest (pip install brotli zstandard).",
                    accept_encoding(browser),
                    dict(browser.headers)["accept-encoding"],
                    config.profile,
                )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        # A bad setting raises TLSClientSettingsError, which Scrapy's
        # middleware manager lets through: the crawl stops at start and
        # `scrapy crawl` exits non-zero (a download handler cannot do that:
        # Scrapy logs and disables a handler whatever it raises). The
        # message goes to the log as one line; the exception raised past
        # Scrapy does not repeat it (STOPPED_MESSAGE).
        try:
            setup = crawl_setup(crawler.settings)
        except TLSClientSettingsError as exc:
            logger.error("%s", exc)
            raise stopped_error() from None
        return cls(setup.config, setup.profiles)

    def process_request(self, request: Request) -> None:
        meta = request.meta
        if "tls_client_custom_tls" in meta or (
            self._config.custom_tls is not None and "tls_client_profile" not in meta
        ):
            return  # no browser to imitate the headers of
        profile = self._config.profile
        if "tls_client_profile" in meta:
            # Refused here already, so the request fails before any other
            # middleware spends work on it.
            profile = check_profile(
                meta["tls_client_profile"], self._profiles, "The 'tls_client_profile' request meta key"
            )
            self._warn_once(profile, "tls_client_profile", http3=meta.get("tls_client_http3") is True)
        browser = browser_for(profile) if profile else None
        if browser is None:
            if profile and request.headers.get(b"User-Agent") == _SCRAPY_USER_AGENT:
                self._report(
                    profile,
                    "app",
                    "Profile %r imitates an app, yet requests go out with Scrapy's User-Agent (%s), which "
                    "the app never sends: set USER_AGENT (or the request's User-Agent) to the app's.",
                    _SCRAPY_USER_AGENT.decode(),
                )
            return
        if not self._wants_headers(request):
            return
        kind = request_kind(request)
        if wants_browser_headers(request.headers):
            self._browser_headers.dress(
                request.headers,
                browser,
                request.url,
                kind,
                decoded_here=request.meta.get("body_file") is not None,
            )
        else:
            for problem in incoherences(browser, request.headers):
                self._report(profile or "", problem, "Request headers contradict profile %r: %s.", problem)
        order_headers(request.headers, browser.order_for(kind))

    def _report(self, profile: str, what: str, message: str, *args: object) -> None:
        """A WARNING, once per profile and cause."""
        if (profile, what) not in self._reported:
            self._reported.add((profile, what))
            logger.warning(message, profile, *args)

    def _wants_headers(self, request: Request) -> bool:
        value = request.meta.get("tls_client_browser_headers", self._config.browser_headers)
        if not isinstance(value, bool):
            raise ValueError(
                f"The 'tls_client_browser_headers' request meta key must be True or False, got {value!r}"
            )
        return value

    def _warn_once(self, profile: str, where: str, *, http3: bool = False) -> None:
        http3 = http3 or self._config.http3
        problem = profile_problem(profile, http3=http3)
        if problem and (profile, http3) not in self._warned:
            self._warned.add((profile, http3))
            logger.warning("%s %r does not look like its browser: %s.", where, profile, problem)
