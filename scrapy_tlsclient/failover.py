"""FailoverMiddleware: when a site starts blocking, retry under another
whole identity, and remember per site what passes (docs/failover.rst).

Each request the middleware manages is sent as one identity of the pool
(``TLS_CLIENT_FAILOVER_POOL``), whole: its profile (ClientHello, HTTP/2),
a native session and a cookie jar of its own, the proxy the user's hook
gives it, and, through TLSClientMiddleware further down the chain, its
headers. A blocked response (_blocks) puts the identity on a cool-down at
that site and is retried, through Scrapy's own ``get_retry_request`` (its
budget, stats and give-up path), as the next identity; the state per site
is _failover_state's. Enable it at 580: after UserAgentMiddleware (500),
so a request still carrying Scrapy's User-Agent is one the spider left
undressed; before HttpCompressionMiddleware (590) on the way in, so its
``process_response`` sees decoded bodies; before CookiesMiddleware (700),
HttpProxyMiddleware (750) and TLSClientMiddleware (950), which act on the
cookie jar, proxy and profile it chooses; after RetryMiddleware (550) on the
way out, so a block is retried here under another identity, not there under
the same one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.settings import default_settings
from scrapy.utils.conf import build_component_list
from scrapy.utils.job import job_dir
from scrapy.utils.misc import load_object

from ._blocks import block_reason, retry_after_seconds
from ._browsers import accept_encoding, browser_for, wants_browser_headers
from ._config import HandlerConfig, TLSClientSettingsError, stopped_error
from ._failover_settings import FailoverSettings
from ._failover_state import FailoverState
from ._identity_registry import crawl_setup
from ._profiles import check_profile
from ._sites import site_of

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

    from ._browsers import Browser

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["FailoverMiddleware"]

#: Native sessions and cookie jars of the identities the middleware sends
#: as are named with these, so they are never shared with another identity
#: (or with a request the middleware leaves alone).
SESSION_PREFIX = "tls_client_identity:"
JAR_PREFIX = "tls_client_identity:"
#: The file in JOBDIR the state is kept in between runs.
STATE_FILE = "tls_client_failover.json"
#: Rounds of waiting for a cool-down to end before a request is sent as the
#: identity whose cool-down ends first anyway. Each round waits for one
#: cool-down; needing many means every identity is blocked again as soon as
#: it returns, which the retry budget should then see rather than a request
#: held in the middleware for hours.
_MAX_WAIT_ROUNDS = 8
#: A wait is slept in steps this long (seconds), so a crawl being stopped
#: (Ctrl-C) is not held up by a cool-down: the request then goes at once.
_WAIT_STEP = 1.0
_SCRAPY_USER_AGENT = default_settings.USER_AGENT


class FailoverMiddleware:
    """Sends each request as one whole identity and retries blocks as
    another (docs/failover.rst)."""

    def __init__(
        self,
        settings: FailoverSettings,
        pool: Sequence[str],
        *,
        stats: StatsCollector | None = None,
        clock: Callable[[], float] = time.time,
        spider: Callable[[], Spider | None] = lambda: None,
        crawling: Callable[[], bool] = lambda: True,
    ) -> None:
        self._settings = settings
        self._crawling = crawling
        self._state = FailoverState(
            pool, cooldown=settings.cooldown, max_cooldown=settings.max_cooldown, clock=clock
        )
        self._stats = stats
        self._spider = spider
        #: (site, identity) -> the proxy the user's hook chose (None: none).
        self._proxies: dict[tuple[str, str], str | None] = {}
        #: site -> the identity last reported as the one that passes.
        self._reported: dict[str, str] = {}
        #: (site, identity) -> the reason of its last block, for the log.
        self._last_block: dict[tuple[str, str], str] = {}
        #: site -> the end of the cool-down a wait was last logged for.
        self._waits_logged: dict[str, float] = {}
        self._state_path: Path | None = None

    @property
    def state(self) -> FailoverState:
        return self._state

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        try:
            setup = crawl_setup(crawler.settings)
            config = setup.config
            assert config.failover is not None  # from_settings sets it
            pool = failover_pool(
                config.failover.pool, setup.identities.keys(), setup.profiles, config.profile
            )
            _check_chain(crawler, config)
        except TLSClientSettingsError as exc:
            logger.error("%s", exc)
            raise stopped_error() from None
        if crawler.settings.get("USER_AGENT") != _SCRAPY_USER_AGENT:
            logger.warning(
                "USER_AGENT is set: FailoverMiddleware leaves alone requests that carry a User-Agent of "
                "their own (it cannot send another identity with it), so it manages none of this crawl's "
                "requests."
            )
        middleware = cls(
            config.failover,
            pool,
            stats=crawler.stats,
            spider=lambda: crawler.spider,
            crawling=lambda: _crawling(crawler),
        )
        jobdir = job_dir(crawler.settings)
        if jobdir:
            middleware._state_path = Path(jobdir) / STATE_FILE
        crawler.signals.connect(middleware._load, signal=signals.spider_opened)
        crawler.signals.connect(middleware._save, signal=signals.spider_closed)
        logger.info("FailoverMiddleware: pool of %d identities: %s", len(pool), ", ".join(pool))
        return middleware

    # -- requests -----------------------------------------------------------

    def process_request(self, request: Request) -> Coroutine[Any, Any, None] | None:
        if not self._manages(request):
            return None
        site = self._site(request)
        current = request.meta.get("tls_client_identity")
        if isinstance(current, str) and self._state.available(site, current):
            identity = current
        else:
            choice = self._state.choose(site)
            if choice.wait > 0:
                return self._send_after_wait(request, site)
            identity = choice.identity
        self._send_as(request, site, identity)
        return None

    async def _send_after_wait(self, request: Request, site: str) -> None:
        """Wait until an identity's cool-down at ``site`` ends, then send
        ``request`` as it."""
        choice = self._state.choose(site)
        for _ in range(_MAX_WAIT_ROUNDS):
            if choice.wait <= 0:
                break
            until = self._state.cooling_until(site, choice.identity)
            if self._waits_logged.get(site) != until:
                # Once per site and cool-down, not once per waiting request.
                self._waits_logged[site] = until
                logger.info(
                    "Site %s: every identity of the pool is cooling down; requests wait %.0f s for %s",
                    site,
                    choice.wait,
                    choice.identity,
                )
            self._inc("tls_client/failover/waits")
            left = choice.wait
            while left > 0 and self._crawling():
                await _sleep(min(left, _WAIT_STEP))
                left -= _WAIT_STEP
            if not self._crawling():
                break
            choice = self._state.choose(site)
        self._send_as(request, site, choice.identity)

    def _send_as(self, request: Request, site: str, identity: str) -> None:
        _assign(request, identity, self._proxy(site, identity))
        # The identity a site is first sent as is the one a change is
        # reported from.
        self._reported.setdefault(site, identity)
        self._inc(f"tls_client/identity/{site}/{identity}/requests")

    def _manages(self, request: Request) -> bool:
        """Requests that pin what an identity sets (a profile, custom TLS,
        a session of their own, a User-Agent of their own) are the
        spider's to dress; so are those with ``tls_client_failover`` False."""
        meta = request.meta
        if meta.get("tls_client_failover", True) is False or "tls_client_custom_tls" in meta:
            return False
        if not request.url.startswith(("http://", "https://")):
            return False
        if _ours(meta, self._state.pool):
            return True
        if "tls_client_profile" in meta or "tls_client_session" in meta:
            return False
        return wants_browser_headers(request.headers)

    def _site(self, request: Request) -> str:
        site = self._settings.site
        if callable(site):
            key = site(request)
            if not isinstance(key, str) or not key:
                raise ValueError(
                    f"TLS_CLIENT_FAILOVER_SITE's hook must return a non-empty string, got {key!r}"
                )
            return key
        return site_of(request.url, site)

    def _proxy(self, site: str, identity: str) -> str | None:
        """The user's hook is asked once per site and identity: an
        identity keeps its exit address, as a browser would."""
        hook = self._settings.proxy
        if hook is None:
            return None
        key = (site, identity)
        if key not in self._proxies:
            proxy = hook(site, identity)
            if proxy is not None and (not isinstance(proxy, str) or "://" not in proxy):
                raise ValueError(
                    f"TLS_CLIENT_FAILOVER_PROXY's hook must return a proxy URL (scheme://host:port) or None, "
                    f"got {proxy!r}"
                )
            self._proxies[key] = proxy
        return self._proxies[key]

    # -- responses ----------------------------------------------------------

    def process_response(self, request: Request, response: Response) -> Request | Response:
        meta = request.meta
        if not _ours(meta, self._state.pool) or meta.get("tls_client_failover", True) is False:
            return response
        identity = str(meta["tls_client_identity"])
        site = self._site(request)
        reason = self._block_reason(request, response)
        if reason is None:
            self._inc(f"tls_client/identity/{site}/{identity}/passes")
            self._state.passed(site, identity)
            self._report(site)
            return response
        self._inc(f"tls_client/identity/{site}/{identity}/blocks")
        retry_after = retry_after_seconds(_header(response, "retry-after"), self._state.clock())
        # A request refused under two identities already is most likely
        # refused for what it asks, not for who asks: further blocks of it
        # do not count against the identities (Retry-After still does).
        # retry_times also counts RetryMiddleware's retries (timeouts, ...):
        # at worst a block then costs no cool-down, never a wrong one.
        page = int(meta.get("retry_times", 0)) >= 2
        outcome = self._state.blocked(site, identity, retry_after=retry_after, strike=not page)
        self._last_block[(site, identity)] = reason
        logger.debug(
            "Site %s blocked %s as %s (%s); cooling down %.0f s",
            site,
            request,
            identity,
            reason,
            outcome.cooldown,
        )
        spider = self._spider()
        retry = get_retry_request(request, spider=spider, reason=f"blocked: {reason}") if spider else None
        if retry is None:
            # Scrapy's give-up line has been logged; RetryMiddleware must not
            # retry (or log) it again for its own status codes.
            meta["dont_retry"] = True
            return response
        _strip_identity_headers(retry, identity)
        next_identity = self._state.choose(site, instead_of=identity).identity
        _assign(retry, next_identity, self._proxy(site, next_identity))
        return retry

    def _block_reason(self, request: Request, response: Response) -> str | None:
        check = self._settings.block_check
        if check is not None:
            verdict = check(response, request)
            if verdict is False:
                return None
            if verdict is True:
                return f"{response.status} custom"
            if isinstance(verdict, str) and verdict:
                return f"{response.status} {verdict}"
            if verdict is not None:
                raise ValueError(
                    "TLS_CLIENT_FAILOVER_BLOCK_CHECK's hook must return a reason string, True, False or "
                    f"None, got {verdict!r}"
                )
        return block_reason(
            response.status, lambda name: _header(response, name), response.body, self._settings.block_codes
        )

    def _report(self, site: str) -> None:
        """One INFO line when the identity a site passes with changes."""
        sticky = self._state.sticky(site)
        previous = self._reported.get(site)
        if sticky is None or previous is None or sticky == previous:
            return
        self._reported[site] = sticky
        until = self._state.cooling_until(site, previous) - self._state.clock()
        why = self._last_block.get((site, previous), "")
        logger.info(
            "Site %s: identity %s -> %s (%s%s)",
            site,
            previous,
            sticky,
            f"{previous} blocked: {why}" if why else f"{previous} not chosen",
            f", cooling down {until:.0f} s more" if until > 0 else "",
        )

    def _inc(self, key: str) -> None:
        if self._stats is not None:
            self._stats.inc_value(key)

    # -- JOBDIR ---------------------------------------------------------------

    def _load(self) -> None:
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            data = json.loads(self._state_path.read_text())
        except (OSError, ValueError) as exc:
            logger.warning(
                "Cannot read the failover state in %s (starting afresh): %s", self._state_path, exc
            )
            return
        sites = self._state.load_json(data)
        logger.info("FailoverMiddleware: resumed the state of %d sites from %s", sites, self._state_path)

    def _save(self) -> None:
        if self._state_path is None:
            return
        partial = self._state_path.with_name(f".{self._state_path.name}.{os.getpid()}")
        try:
            partial.write_text(json.dumps(self._state.to_json()))
            partial.replace(self._state_path)
        except OSError as exc:
            logger.warning("Cannot save the failover state to %s: %s", self._state_path, exc)


# -- pure helpers ---------------------------------------------------------------


def failover_pool(
    names: Sequence[str] | None, identities: Collection[str], profiles: Collection[str], profile: str | None
) -> tuple[str, ...]:
    """The pool: ``names`` checked against the loaded profiles (close
    matches for a typo) and each a browser's; None: every identity, the
    default profile first. Raises TLSClientSettingsError."""
    if names is None:
        rest = sorted(name for name in identities if name != profile)
        names = [profile, *rest] if profile is not None and profile in identities else rest
        if not names:
            raise TLSClientSettingsError("TLS_CLIENT_FAILOVER_POOL: no identity is loaded to make a pool of")
    pool = []
    for name in names:
        try:
            pool.append(check_profile(name, profiles, "The TLS_CLIENT_FAILOVER_POOL setting"))
        except ValueError as exc:
            raise TLSClientSettingsError(str(exc)) from None
        if browser_for(name) is None:
            raise TLSClientSettingsError(
                f"TLS_CLIENT_FAILOVER_POOL: {name!r} imitates an app, not a browser: the middleware cannot "
                "send it with headers of its own; list browser identities (python -m scrapy_tlsclient "
                "profiles)"
            )
    return tuple(pool)


def _check_chain(crawler: Crawler, config: HandlerConfig) -> None:
    """The identity's headers come from TLSClientMiddleware, which must
    run after this middleware and dress requests."""
    order = [
        load_object(entry) if isinstance(entry, str) else entry
        for entry in build_component_list(crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES"))
    ]
    from .middleware import TLSClientMiddleware

    mine = next((i for i, entry in enumerate(order) if entry is FailoverMiddleware), -1)
    theirs = next((i for i, entry in enumerate(order) if entry is TLSClientMiddleware), -1)
    if theirs < mine:
        raise TLSClientSettingsError(
            "DOWNLOADER_MIDDLEWARES: FailoverMiddleware needs TLSClientMiddleware enabled after it (e.g. "
            "FailoverMiddleware at 580, TLSClientMiddleware at 950): that one gives each request its "
            "identity's headers"
        )
    if not config.browser_headers:
        raise TLSClientSettingsError(
            "TLS_CLIENT_BROWSER_HEADERS is False: FailoverMiddleware needs it True, so each request carries "
            "its identity's headers"
        )


def _ours(meta: Any, pool: Collection[str]) -> bool:
    """The request was given its identity by this middleware (or names one
    of the pool in ``tls_client_identity`` and nothing that contradicts it)."""
    identity = meta.get("tls_client_identity")
    return (
        isinstance(identity, str)
        and identity in pool
        and meta.get("tls_client_profile", identity) == identity
        and meta.get("tls_client_session", SESSION_PREFIX + identity) == SESSION_PREFIX + identity
    )


def _assign(request: Request, identity: str, proxy: str | None) -> None:
    """Give ``request`` everything of ``identity`` but its headers (which
    TLSClientMiddleware adds): profile, session, cookie jar, proxy."""
    meta = request.meta
    previous = meta.get("tls_client_identity")
    if isinstance(previous, str) and _ours(meta, (previous,)) and previous != identity:
        _strip_identity_headers(request, str(previous))
    meta["tls_client_identity"] = identity
    meta["tls_client_profile"] = identity
    meta["tls_client_session"] = SESSION_PREFIX + identity
    meta["cookiejar"] = f"{JAR_PREFIX}{identity}:{_user_jar(meta.get('cookiejar'))}"
    if proxy is not None:
        meta["proxy"] = proxy


def _user_jar(jar: object) -> str:
    """The spider's own cookie jar key inside one of ours ("" for none),
    so each identity gets its own jar for each of the spider's."""
    if jar is None:
        return ""
    text = str(jar)
    if text.startswith(JAR_PREFIX):
        return text[len(JAR_PREFIX) :].partition(":")[2]
    return text


def _identity_header_values(browser: Browser, kinds: Iterable[str]) -> dict[bytes, set[bytes]]:
    values: dict[bytes, set[bytes]] = {}
    for kind in kinds:
        for name, value in browser.headers_for(kind):
            values.setdefault(name.encode(), set()).add(value.encode("latin-1"))
    values.setdefault(b"accept-encoding", set()).add(accept_encoding(browser).encode())
    return values


def _strip_identity_headers(request: Request, identity: str) -> None:
    """Remove the headers TLSClientMiddleware gave ``request`` for
    ``identity`` (those with that browser's values), so the next identity's
    are added whole; headers the spider set itself stay."""
    browser = browser_for(identity)
    if browser is None:
        return
    # The middleware sees http(s) requests only (FailoverMiddleware._manages):
    # a request keeps its own Cache-Control: no-cache, which only the
    # browser's WebSocket handshake sends.
    kinds = [kind for kind in browser.kinds if kind != "websocket"] or ["navigation"]
    for name, values in _identity_header_values(browser, kinds).items():
        current = request.headers.getlist(name)
        if current and (name == b"sec-fetch-site" or all(value in values for value in current)):
            del request.headers[name]


def _crawling(crawler: Crawler) -> bool:
    """False once the crawl is being stopped (Ctrl-C: Crawler.stop) or its
    spider closed (CLOSESPIDER_*, CloseSpider), which waits for requests in
    the middleware. Scrapy has no public flag for the second; its engine
    slot's ``closing`` is read defensively."""
    slot = getattr(crawler.engine, "_slot", None)
    return bool(crawler.crawling) and getattr(slot, "closing", None) is None


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value is not None else None


async def _sleep(seconds: float) -> None:
    try:
        from scrapy.utils.asyncio import sleep  # Scrapy 2.18+
    except ImportError:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor, task

        await maybe_deferred_to_future(task.deferLater(reactor, seconds))
        return
    await sleep(seconds)
