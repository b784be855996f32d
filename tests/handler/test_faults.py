"""Faults injected by the loopback fault servers (native/testserver/faults.go),
through the real handler and, beside it, Scrapy's own HTTP11DownloadHandler
with the same request.

For every fault the handler must give the Scrapy exception (or, with
``download_fail_on_dataloss`` off, the ``dataloss`` flag) that Scrapy's
handler gives, within the download timeout plus a margin, and leave nothing
behind: once the download has failed the library holds no stream, call,
completion or body buffer more than before; once the handler is closed it
holds no session, the Go side no goroutine, the process no thread and no
file descriptor more than before.

``FAULTS`` is the table of docs/reliability.rst: the outcome we give (the
correct one where a row is marked as a bug: those tests are strict xfails
until the mapping is fixed) and the one Scrapy's HTTP11 handler gives,
measured by ``test_scrapy_http11_handler``. test_download.py and
test_proxies.py already check our outcome for a stalled and a truncated body
of the ordinary servers, a 407 and an unreachable proxy; the rows here that
resemble them add what those do not: Scrapy's side, the timing and the leak
checks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from scrapy import Request
from scrapy.core.downloader.handlers.http11 import TunnelError
from scrapy.exceptions import (
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Response
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient._event_loop import sleep
from scrapy_tlsclient.binding import get_library

from conftest import ROOT, FaultServers, pattern
from handler_utils import open_handler, open_http11

#: Download timeouts: short for faults that stall, long enough for the rest
#: that reaching it would be a failure of its own.
STALL_TIMEOUT_S = 1.0
FAST_TIMEOUT_S = 3.0
#: On top of the timeout, for a loaded machine.
MARGIN_S = 2.0
#: How long a connection that got a GOAWAY keeping the request's stream
#: waits for a frame (goAwaySilenceLimit, native/third_party/fhttp/http2).
GOAWAY_SILENCE_S = 2.0
#: The download timeout of the GOAWAY rows: far longer than the silence, so
#: that what ends them is not the timeout.
GOAWAY_TIMEOUT_S = 20.0
#: How long whatever a fault left behind gets to go away.
SETTLE_S = 5.0

# The outcomes, short for the table.
FAILED = DownloadFailedError
TIMEOUT = DownloadTimeoutError
DATALOSS = ResponseDataLossError
REFUSED = DownloadConnectionRefusedError
NA = "n/a"  # Scrapy's HTTP11 handler cannot make the request (HTTP/2)
REFUSED_PROXY = "http://127.0.0.1:1"  # nothing listens there


@dataclass(frozen=True)
class Fault:
    key: str  # the row of docs/reliability.rst, like "h1/reset-mid-body"
    server: str  # the fault server of the request URL (conftest.FaultServers)
    path: str
    #: What the handler must give: an exception class, or None for a 200.
    ours: type[Exception] | None
    #: What Scrapy's HTTP11 handler gives, measured (a tuple: any of them,
    #: it varies); NA where it cannot.
    scrapy: type[Exception] | str | tuple[type[Exception] | None, ...] | None
    #: With download_fail_on_dataloss off, a 200 flagged "dataloss" whose
    #: body is a prefix of what the server sent (both handlers).
    dataloss: bool = False
    proxy: str | None = None  # a fault server's name, or a proxy URL
    #: Set where the handler gives something else today: what, and why it
    #: is wrong. The test is then a strict xfail.
    bug: str = ""
    #: Why ``ours`` differs from ``scrapy``, where it does.
    note: str = ""
    #: The body a 200 must have, where the row checks it (both handlers).
    body: bytes | None = None
    #: The row's download timeout, where it is not the default below.
    download_timeout: float | None = None
    #: Seconds within which the outcome must come, where that is sooner
    #: than the download timeout (and the margin).
    ends_within: float | None = None

    @property
    def id(self) -> str:
        family, name = self.key.split("/", 1)
        return f"{family}-{self.server}-{name}" if family == "h1" else self.key.replace("/", "-")

    @property
    def timeout(self) -> float:
        if self.download_timeout is not None:
            return self.download_timeout
        if DownloadTimeoutError in (self.ours, self.scrapy):
            return STALL_TIMEOUT_S
        return FAST_TIMEOUT_S


def h1_faults(server: str) -> list[Fault]:
    """The HTTP/1.1 faults on the plain ("http") or TLS ("https") server."""
    return [
        Fault("h1/ok", server, "/ok?n=100", None, None),
        Fault("h1/close-before-headers", server, "/close-before-headers", FAILED, FAILED),
        Fault("h1/reset-before-headers", server, "/reset-before-headers", FAILED, FAILED),
        Fault(
            "h1/reset-mid-headers",
            server,
            "/reset-mid-headers",
            FAILED,
            FAILED,
            # Over TLS the reset reads as 'connection reset by peer', which is right.
        ),
        Fault(
            "h1/reset-mid-body",
            server,
            "/reset-mid-body",
            DATALOSS,
            DATALOSS,
            dataloss=True,
        ),
        Fault("h1/truncate-length", server, "/truncate-length", DATALOSS, DATALOSS, dataloss=True),
        Fault("h1/truncate-chunked", server, "/truncate-chunked", DATALOSS, DATALOSS, dataloss=True),
        Fault("h1/bad-chunk", server, "/bad-chunk", DATALOSS, DATALOSS, dataloss=True),
        Fault("h1/slow-headers", server, "/slow-headers", TIMEOUT, TIMEOUT),
        Fault("h1/stall-body", server, "/stall-body", TIMEOUT, TIMEOUT),
        Fault("h1/huge-headers", server, "/huge-headers", None, None),
        Fault(
            "h1/huge-header-line",
            server,
            "/huge-headers?line=1048576",
            None,
            (FAILED, None),
            note="one 1 MiB header line: Go reads heads up to its limit on the whole head; Twisted "
            "closes the connection at a 16 KiB line, but may parse what arrives while it closes "
            "(seen over TLS) and then gives the 200 without that header",
        ),
        Fault("h1/bad-status-code", server, "/bad-status-code", FAILED, FAILED),
        Fault("h1/bad-status-line", server, "/bad-status-line", FAILED, FAILED),
        Fault(
            "h1/bad-header",
            server,
            "/bad-header",
            FAILED,
            None,
            note="Go refuses a header line without a colon ('malformed MIME header: missing colon'); "
            "Scrapy skips such lines on purpose, as browsers do (scrapy/scrapy#210)",
        ),
        Fault("h1/bad-content-length", server, "/bad-content-length", FAILED, FAILED),
        Fault("h1/early-hints", server, "/early-hints?n=8", None, None, body=b"ok"),
        Fault("h1/content-length-list", server, "/content-length-list?list=5,5", None, None, body=b"hello"),
        Fault("h1/content-length-differing", server, "/content-length-list?list=5,6", FAILED, FAILED),
    ]


H2_FAULTS = [
    Fault("h2/ok", "h2", "/ok?n=100", None, NA),
    Fault(
        "h2/rst-before-headers",
        "h2",
        "/rst-before-headers",
        FAILED,
        NA,
    ),
    Fault("h2/rst-mid-body", "h2", "/rst-mid-body", DATALOSS, NA, dataloss=True),
    Fault(
        "h2/goaway-mid-body",
        "h2",
        "/goaway-mid-body?code=2",
        DATALOSS,
        NA,
        dataloss=True,
    ),
    Fault(
        "h2/goaway-no-error-mid-body",
        "h2",
        "/goaway-mid-body?code=0",
        DATALOSS,
        NA,
        dataloss=True,
    ),
    Fault(
        "h2/goaway-refused",
        "h2",
        "/goaway-unanswered?last=below",
        FAILED,
        NA,
        note="refused unprocessed on the first connection and on the retry's new one: the call "
        "fails as Chrome's does, not after fhttp's minute of retries",
    ),
    Fault(
        "h2/goaway-unanswered",
        "h2",
        "/goaway-unanswered?last=at",
        FAILED,
        NA,
        download_timeout=GOAWAY_TIMEOUT_S,
        ends_within=GOAWAY_SILENCE_S + MARGIN_S,
        note="the GOAWAY keeps the request's stream, which RFC 9113 lets the server still answer; "
        "the connection waits for it only while frames keep coming, and fails it two seconds "
        "after the last one, well before the download timeout",
    ),
    Fault(
        "h2/goaway-slow-answer",
        "h2",
        "/goaway-slow-answer?frames=4&interval_ms=900",
        None,
        NA,
        body=b"ok",
        download_timeout=GOAWAY_TIMEOUT_S,
        note="the answer comes after the GOAWAY in four frames 0.9 s apart, longer in all than "
        "the two seconds a silent server gets",
    ),
    Fault(
        "h2/reset-mid-body",
        "h2",
        "/reset-mid-body",
        DATALOSS,
        NA,
        dataloss=True,
    ),
    Fault("h2/truncate", "h2", "/truncate", DATALOSS, NA, dataloss=True),
    Fault("h2/stall-body", "h2", "/stall-body", TIMEOUT, NA),
    Fault("h2/slow-headers", "h2", "/slow-headers", TIMEOUT, NA),
    Fault("h2/huge-headers", "h2", "/huge-headers", FAILED, NA),
    Fault("h2/bad-status", "h2", "/bad-status", FAILED, NA),
    Fault("h2/no-status", "h2", "/no-status", FAILED, NA),
    Fault("h2/early-hints", "h2", "/early-hints?n=8", None, NA, body=b"ok"),
    Fault("h2/content-length-list", "h2", "/content-length-list?list=5,5", None, NA, body=b"hello"),
]

TLS_FAULTS = [
    Fault("tls/alert", "tls_alert", "/", FAILED, FAILED),
    Fault("tls/close", "tls_close", "/", FAILED, FAILED),
    Fault("tls/reset", "tls_reset", "/", FAILED, FAILED),
    Fault("tls/stall", "tls_stall", "/", TIMEOUT, TIMEOUT),
    Fault("tls/plaintext", "tls_plaintext", "/", FAILED, FAILED),
]

_TUNNEL_NOTE = (
    "Scrapy raises its own TunnelError, which RetryMiddleware retries as it does DownloadFailedError"
)
_PROXY_HANG_NOTE = "Scrapy's tunnel does not notice the lost connection and waits for the download timeout"

PROXY_FAULTS = [
    Fault("proxy/refused", "https", "/ok", REFUSED, REFUSED, proxy=REFUSED_PROXY),
    Fault("proxy/403", "https", "/ok", FAILED, TunnelError, proxy="proxy_403", note=_TUNNEL_NOTE),
    Fault("proxy/407", "https", "/ok", FAILED, TunnelError, proxy="proxy_407", note=_TUNNEL_NOTE),
    Fault(
        "proxy/close",
        "https",
        "/ok",
        FAILED,
        TIMEOUT,
        proxy="proxy_close",
        note=_PROXY_HANG_NOTE,
    ),
    Fault(
        "proxy/reset",
        "https",
        "/ok",
        FAILED,
        TIMEOUT,
        proxy="proxy_reset",
        note=_PROXY_HANG_NOTE,
    ),
    Fault("proxy/stall", "https", "/ok", TIMEOUT, TIMEOUT, proxy="proxy_stall"),
    Fault("proxy/200-close", "https", "/ok", FAILED, FAILED, proxy="proxy_200_close"),
]

FAULTS = [*h1_faults("http"), *h1_faults("https"), *H2_FAULTS, *TLS_FAULTS, *PROXY_FAULTS]


class WrongOutcome(AssertionError):
    """The handler gave another outcome than the table's; the only failure
    a known bug's xfail accepts (leaks and lateness fail those tests too)."""


def ours_param(fault: Fault) -> Any:
    marks = [pytest.mark.xfail(strict=True, raises=WrongOutcome, reason=fault.bug)] if fault.bug else []
    return pytest.param(fault, id=fault.id, marks=marks)


# -- helpers ------------------------------------------------------------------


def request_for(fault: Fault, faults: FaultServers, *, fail_on_dataloss: bool = True) -> Request:
    meta: dict[str, Any] = {"download_timeout": fault.timeout, "download_fail_on_dataloss": fail_on_dataloss}
    if fault.proxy:
        meta["proxy"] = fault.proxy if "://" in fault.proxy else faults[fault.proxy]
    return Request(faults[fault.server] + fault.path, meta=meta, dont_filter=True)


async def attempt(handler: Any, request: Request) -> tuple[Response | Exception, float]:
    """The outcome of one download and how long it took."""
    started = time.monotonic()
    try:
        outcome: Response | Exception = await handler.download_request(request)
    except Exception as exc:  # the outcome is what is checked
        outcome = exc
    return outcome, time.monotonic() - started


def describe(outcome: Response | Exception) -> str:
    if isinstance(outcome, Exception):
        return f"{type(outcome).__name__}: {outcome}"
    return f"<{outcome.status} {len(outcome.body)} bytes, flags {outcome.flags}>"


def check_time(fault: Fault, outcome: Response | Exception, elapsed: float) -> None:
    """Within the timeout plus the margin (or ends_within); a timeout not before the timeout."""
    limit = fault.ends_within or fault.timeout + MARGIN_S
    assert elapsed < limit, f"{fault.key}: {elapsed:.2f} s for {describe(outcome)}"
    if isinstance(outcome, DownloadTimeoutError):
        assert elapsed >= fault.timeout - 0.1, f"{fault.key}: a timeout after {elapsed:.2f} s"


def outcome_problems(expected: object, outcome: Response | Exception) -> list[str]:
    if isinstance(expected, tuple):
        found = [outcome_problems(one, outcome) for one in expected]
        return [] if [] in found else [p for problems in found for p in problems]
    if expected is None:
        if isinstance(outcome, Response) and outcome.status == 200 and not outcome.flags:
            return []
        return [f"expected a 200 response, got {describe(outcome)}"]
    assert isinstance(expected, type)
    if type(outcome) is expected:
        return []
    return [f"expected {expected.__name__}, got {describe(outcome)}"]


def body_problems(fault: Fault, outcome: Response | Exception) -> list[str]:
    if fault.body is None or not isinstance(outcome, Response) or outcome.body == fault.body:
        return []
    return [f"expected the body {fault.body!r}, got {outcome.body[:60]!r}"]


def dataloss_problems(outcome: Response | Exception) -> list[str]:
    """A 200 flagged dataloss with the start of what the server sent."""
    if (
        isinstance(outcome, Response)
        and outcome.status == 200
        and outcome.flags == ["dataloss"]
        and 0 < len(outcome.body) <= 5000
        and outcome.body == pattern(len(outcome.body))
    ):
        return []
    return [f"with download_fail_on_dataloss off: expected a 200 flagged dataloss, got {describe(outcome)}"]


# -- leaks --------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    stats: dict[str, int]
    buffers: int
    threads: frozenset[threading.Thread]
    fds: int


def snapshot() -> Snapshot:
    library = get_library()
    return Snapshot(
        stats=library.stats(),
        buffers=library.outstanding_buffers(),
        threads=frozenset(threading.enumerate()),
        fds=len(os.listdir("/proc/self/fd")),
    )


def left_by_download(before: Snapshot) -> list[str]:
    """What a failed download still holds in the library, the handler open."""
    now = snapshot()
    problems = [
        f"{name} {now.stats[name]} (was {before.stats[name]})"
        for name in ("streamsOpen", "callsInFlight", "completionsPending", "untakenBuffers")
        if now.stats[name] > before.stats[name]
    ]
    if now.buffers > before.buffers:
        problems.append(f"outstanding buffers {now.buffers} (was {before.buffers})")
    return problems


def left_by_handler(before: Snapshot) -> list[str]:
    """What a closed handler left: sessions, goroutines, threads, fds."""
    now = snapshot()
    problems = left_by_download(before)
    problems += [
        f"{name} {now.stats[name]} (was {before.stats[name]})"
        for name in ("sessions", "goroutines")
        if now.stats[name] > before.stats[name]
    ]
    if new_threads := now.threads - before.threads:
        problems.append(f"threads {sorted(t.name for t in new_threads)}")
    if now.fds > before.fds:
        problems.append(f"file descriptors {now.fds} (was {before.fds})")
    return problems


async def baseline() -> Snapshot:
    """A snapshot once what earlier tests closed is gone: the descriptor and
    goroutine counts no longer fall (for at most SETTLE_S)."""
    deadline = time.monotonic() + SETTLE_S
    last = snapshot()
    while time.monotonic() < deadline:
        await sleep(0.1)
        now = snapshot()
        if now.fds >= last.fds and now.stats["goroutines"] >= last.stats["goroutines"]:
            return now
        last = now
    return last


async def settled(check: Callable[[], list[str]]) -> list[str]:
    """``check()`` once it finds nothing, or what it finds after SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    while (problems := check()) and time.monotonic() < deadline:
        await sleep(0.05)
    return problems


_warm: list[bool] = []


async def warm_up(faults: FaultServers) -> None:
    """Once per process, what is created on first use and kept (the Go
    runtime's poller, loaded certificates, Twisted's pools), so that it is
    not counted as left behind by the first test."""
    if _warm:
        return
    async with open_handler() as handler:
        for server in ("http", "https", "h2"):
            await handler.download_request(Request(f"{faults[server]}/ok"))
        await attempt(handler, Request(f"{faults['tls_alert']}/"))
    async with open_http11() as http11:
        for server in ("http", "https"):
            await http11.download_request(Request(f"{faults[server]}/ok"))
    _warm.append(True)


# -- the tests ----------------------------------------------------------------


@pytest.mark.parametrize("fault", [ours_param(f) for f in FAULTS])
@deferred_f_from_coro_f
async def test_fault_through_the_handler(fault: Fault, fault_servers: FaultServers) -> None:
    await warm_up(fault_servers)
    before = await baseline()
    wrong: list[str] = []
    async with open_handler() as handler:
        outcome, elapsed = await attempt(handler, request_for(fault, fault_servers))
        check_time(fault, outcome, elapsed)
        wrong += outcome_problems(fault.ours, outcome) + body_problems(fault, outcome)
        if fault.dataloss:
            request = request_for(fault, fault_servers, fail_on_dataloss=False)
            partial, elapsed = await attempt(handler, request)
            check_time(fault, partial, elapsed)
            wrong += dataloss_problems(partial)
        left = await settled(lambda: left_by_download(before))
        assert not left, f"{fault.key}: left by the failed download: {left}"
    left = await settled(lambda: left_by_handler(before))
    assert not left, f"{fault.key}: left after close(): {left}"
    if wrong:
        raise WrongOutcome(f"{fault.key}: {'; '.join(wrong)}")


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.id) for f in FAULTS if f.scrapy != NA])
@deferred_f_from_coro_f
async def test_scrapy_http11_handler(fault: Fault, fault_servers: FaultServers) -> None:
    """What Scrapy's own handler gives: the other column of the table."""
    await warm_up(fault_servers)
    async with open_http11() as http11:
        outcome, elapsed = await attempt(http11, request_for(fault, fault_servers))
        check_time(fault, outcome, elapsed)
        assert not outcome_problems(fault.scrapy, outcome), describe(outcome)
        assert not body_problems(fault, outcome), describe(outcome)
        if fault.dataloss:
            request = request_for(fault, fault_servers, fail_on_dataloss=False)
            partial, elapsed = await attempt(http11, request)
            check_time(fault, partial, elapsed)
            assert not dataloss_problems(partial), describe(partial)


def test_every_difference_from_scrapy_is_explained() -> None:
    for fault in FAULTS:
        if fault.scrapy != NA and fault.scrapy is not fault.ours:
            assert fault.note, f"{fault.key}: ours {fault.ours}, Scrapy's {fault.scrapy}, no note says why"
        assert not (fault.note and fault.scrapy == fault.ours), f"{fault.key}: a note but no difference"


def test_docs_table_lists_every_fault() -> None:
    text = (ROOT / "docs" / "reliability.rst").read_text(encoding="utf-8")
    missing = sorted({f.key for f in FAULTS if f"``{f.key}``" not in text})
    assert not missing, f"docs/reliability.rst lacks rows for {missing}"


@pytest.mark.parametrize("server", ["http", "https"])
@deferred_f_from_coro_f
async def test_a_body_that_ends_with_the_connection_is_flagged_partial(
    fault_servers: FaultServers, server: str
) -> None:
    """Neither Content-Length nor chunks: the end of the body cannot be told
    from a cut, and both handlers say so with the "partial" flag."""
    await warm_up(fault_servers)
    request = Request(fault_servers[server] + "/close-delimited?send=5000", dont_filter=True)
    async with open_handler() as handler, open_http11() as http11:
        for opened in (handler, http11):
            response = await opened.download_request(request)
            assert response.status == 200 and len(response.body) == 5000
            assert "partial" in response.flags, type(opened).__name__
        ok = await handler.download_request(Request(fault_servers[server] + "/ok?n=100", dont_filter=True))
        assert "partial" not in ok.flags
