"""Soak: a long mixed crawl, checking that nothing grows or is left behind.

    python benchmarks/soak.py [--reactor both|asyncio|default] [--json PATH]

Not a timed test: one long Scrapy crawl per reactor (the asyncio reactor,
then Twisted's default epoll reactor, each in a fresh subprocess) with
``TLSClientDownloadHandler``, ``TLSClientMiddleware``,
``TLSClientStreamMiddleware`` and ``TLSFilesPipeline`` (into a temporary
``FILES_STORE``), against the loopback test server, HTTPS/1.1 and HTTP/2
alternating. The defaults are the reliability issue's figures:

* ``--requests 100000`` small pages (``/bytes``, 2 KiB, body length checked);
* ``--streams 1000`` streamed responses (``tls_client_stream``), SSE and
  NDJSON alternating, read by async callbacks through ``stream_of()``;
  ``--cancel 300`` of them are endless and stopped after 4 events, in three
  ways in turn (``break`` inside ``async with``, ``stream.cancel()``, and
  leaving a bare ``async for`` so that ``TLSClientStreamMiddleware`` cancels
  the stream when the callback ends); the others end after 8 events;
* ``--files 50`` files of 2-4 MiB (``/bytes`` with a Content-Length and
  ``/live/bytes`` without one, alternating) through ``TLSFilesPipeline``,
  sizes checked on disk.

The work runs in three phases, each mixing the three kinds evenly: a
warm-up (``--warmup``, 5 % of each count), then the rest in two halves.
``start()`` keeps at most twice ``--concurrency`` units in flight (so
Scrapy's queue does not hold thousands of requests) and waits for each phase
to finish. At each phase end, after a ``gc.collect()`` and once the handler,
the library and the server report nothing in flight (at most ``--settle``
seconds), the child samples: RSS (``VmRSS``), the C heap in use (glibc's
``mallinfo2``) and Python's allocated blocks, Python and OS threads, open
file descriptors and sockets (TCP connections by server and state in the
JSON), the library's ``getStats`` (sessions, open streams, calls in flight,
goroutines, untaken buffers, pending completions, cancel tombstones) and
``outstandingBuffers``, the handlers' own downloads in flight, live stream
bodies and sessions, the live ``ResponseStream`` objects, and the server's open
``/live`` streams. Samples: ``before`` (the crawl's first moment),
``start`` (after the warm-up), ``middle``, ``end`` (all work done, crawl
still open) and ``closed`` (after the crawl, its handlers closed, in the
same process).

Targets: RSS growth after the warm-up (the highest of middle, end and
closed, minus start) <= 20 MiB; after the close, Python threads, file
descriptors, sockets, sessions and goroutines no more than before the
crawl; at the end, threads, sockets, sessions, goroutines and the other
file descriptors no more than at start; open streams, calls in flight,
buffers, pending completions, the handlers' downloads and live bodies, the
live ResponseStream objects and the server's open streams at zero in every sample; all work
done without errors. ``--json PATH`` also writes every sample, with the
command, the machine, the date and the load, to PATH as JSON. docs/soak.rst
has a run and how to read it.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _crawl import crawl, describe
from _report import command, machine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _process import proc_status, rss_mib
from _testserver import test_server

REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "default": "twisted.internet.epollreactor.EPollReactor",  # Twisted's default on Linux
}
RSS_TARGET_MIB = 20.0
SAMPLES = ("before", "start", "middle", "end", "closed")
PHASES = (("warm-up", "start"), ("first half", "middle"), ("second half", "end"))
PAGE_SIZE = 2048
STREAM_EVENTS = 8  # events of a stream read to its end
CANCEL_AFTER = 4  # events read before a cancelled (endless) stream is stopped
STREAM_INTERVAL_MS = 5
CANCEL_STYLES = ("break", "cancel", "abandon")
MIB = 1 << 20


# --- measurements (child) --------------------------------------------------


TCP_STATES = {"01": "established", "06": "time_wait", "07": "close", "08": "close_wait", "0A": "listen"}


def open_fds() -> tuple[int, set[str]]:
    """Open file descriptors, and the inodes of those that are sockets."""
    fds, sockets = 0, set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # listdir's own descriptor, closed by now
            continue
        fds += 1
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    return fds, sockets


def tcp_connections(sockets: set[str], ports: dict[int, str]) -> dict[str, int]:
    """This process's TCP sockets by the server they lead to and their state,
    e.g. ``{"https established": 18, "h2 established": 1}``."""
    found: dict[str, int] = {}
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as lines:
                rows = [line.split() for line in lines][1:]
        except OSError:
            continue
        for row in rows:
            if len(row) > 9 and row[9] in sockets:
                port = int(row[2].rsplit(":", 1)[1], 16)
                key = f"{ports.get(port, 'other')} {TCP_STATES.get(row[3], row[3])}"
                found[key] = found.get(key, 0) + 1
    return dict(sorted(found.items()))


def server_open_streams(http_base: str) -> int:
    """The test server's /live streams still running (-1 if it did not answer)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{http_base}/live/open", timeout=2) as answer:
            return int(json.load(answer)["open"])
    except (OSError, ValueError, KeyError):
        return -1


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_in_use_mib() -> float:
    """Bytes the C allocator has handed out and not had back (glibc's
    ``mallinfo2``: ``uordblks`` + ``hblkhd``), in MiB; -1 if unknown. Go's
    heap is not in it (the Go runtime maps its own memory)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return -1.0
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return (info.uordblks + info.hblkhd) / MIB


def thread_names() -> dict[str, int]:
    """Python threads by name, numbers dropped (``scrapy_tlsclient_3`` -> ``scrapy_tlsclient_``)."""
    names: dict[str, int] = {}
    for thread in threading.enumerate():
        name = re.sub(r"\d+", "", thread.name)
        names[name] = names.get(name, 0) + 1
    return names


def measure(library: Any, handlers: list[Any], urls: dict[str, str]) -> dict[str, Any]:
    """One sample of the process, the native library, the handlers and the server."""
    from scrapy_tlsclient import streaming

    native = library.stats()
    fds, sockets = open_fds()
    ports = {int(urls[name].rsplit(":", 1)[1]): name for name in ("http", "https", "h2")}
    return {
        "rss_mib": rss_mib(),
        # Python objects' memory blocks (pymalloc and larger), and the C heap in use.
        "py_kblocks": sys.getallocatedblocks() / 1000,
        "malloc_mib": malloc_in_use_mib(),
        "py_threads": threading.active_count(),
        "os_threads": proc_status("Threads:"),
        "fds": fds,
        "sockets": len(sockets),
        "tcp": tcp_connections(sockets, ports),
        "sessions": native.get("sessions", -1),
        "streams": native.get("streamsOpen", -1),
        "calls": native.get("callsInFlight", -1),
        "goroutines": native.get("goroutines", -1),
        "untaken": native.get("untakenBuffers", -1),
        "outstanding": library.outstanding_buffers(),
        "pending": native.get("completionsPending", -1),
        "tombstones": native.get("tombstones", -1),
        "streams_opened": native.get("streamsOpened", -1),
        "h_in_flight": sum(len(handler._in_flight) for handler in handlers),
        "h_live": sum(len(handler._live) for handler in handlers),
        "h_sessions": sum(len(handler._sessions) for handler in handlers),
        # ResponseStream objects still alive (stream_of()'s streams live in
        # their request's meta; none should outlive its response).
        "registry": sum(isinstance(obj, streaming.ResponseStream) for obj in gc.get_objects()),
        "server_open": server_open_streams(urls["http"]),
        "thread_names": thread_names(),
    }


def quiet(sample: dict[str, Any]) -> bool:
    """Nothing in flight anywhere (what a settled sample waits for). Live
    stream bodies are not waited for: they go when Python collects them."""
    keys = ("streams", "calls", "pending", "h_in_flight", "server_open")
    return all(sample[key] == 0 for key in keys)


def closed_sample(
    library: Any, handlers: list[Any], before: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """The sample after the crawl, its handlers closed: waits (bounded) for
    their threads and the library's goroutines to wind down first."""
    gc.collect()
    began = time.monotonic()
    while True:
        figures = measure(library, handlers, config["urls"])
        back = (
            figures["sessions"] == 0
            and figures["py_threads"] <= before["py_threads"]
            and figures["fds"] <= before["fds"]
            and figures["goroutines"] <= before["goroutines"]
        )
        if (back and quiet(figures)) or time.monotonic() - began >= config["settle"]:
            break
        time.sleep(0.05)
    return figures | {"label": "closed", "settle_s": time.monotonic() - began, "settled": quiet(figures)}


# --- the work plan -----------------------------------------------------------


def split(total: int, warmup: float) -> list[int]:
    """``total`` units over the three phases: the warm-up's share, then halves."""
    first = min(total, int(total * warmup + 0.5))
    rest = total - first
    return [first, rest // 2, rest - rest // 2]


def plan(config: dict[str, Any]) -> list[dict[str, int]]:
    """Per phase: how many pages, streams, cancelled streams and files."""
    counts = {key: split(config[key], config["warmup"]) for key in ("requests", "streams", "cancel", "files")}
    return [{key: counts[key][i] for key in counts} for i in range(len(PHASES))]


def spread(count: int, over: int) -> Iterator[bool]:
    """``over`` booleans, ``count`` of them true, evenly spread."""
    for i in range(over):
        yield (i + 1) * count // over > i * count // over


# --- child: one crawl ------------------------------------------------------


def run_child(config: dict[str, Any]) -> None:
    """Run the soak crawl of ``config`` and print its JSON result line."""
    from scrapy import Request, Spider, signals
    from scrapy.crawler import Crawler
    from scrapy.exceptions import CloseSpider
    from scrapy.http import Response
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet.defer import Deferred
    from twisted.internet.task import deferLater
    from twisted.python.failure import Failure

    from scrapy_tlsclient import TLSClientDownloadHandler, stream_of
    from scrapy_tlsclient.pipelines import TEMP_DIR_NAME

    urls: dict[str, str] = config["urls"]
    servers = (urls["https"], urls["h2"])
    window = 2 * config["concurrency"]
    files_store = Path(config["files_store"])
    begun = time.monotonic()
    deadline = begun + config["work_timeout"]

    def progress(message: str) -> None:
        print(f"  [{config['reactor']} {time.monotonic() - begun:6.0f} s] {message}", file=sys.stderr)

    class SoakSpider(Spider):
        name = "soak"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.counts = dict.fromkeys(
                (
                    "pages_ok",
                    "pages_failed",
                    "streams_completed",
                    "streams_cancelled",
                    "streams_failed",
                    "files_ok",
                    "files_failed",
                ),
                0,
            )
            self.yielded = self.finished = 0
            self.errors: list[str] = []  # the first few
            self.samples: list[dict[str, Any]] = []
            self.phases: list[dict[str, Any]] = []
            self.timed_out: str | None = None
            self.handlers: list[Any] = []
            self.library: Any = None
            self._changed: Deferred[None] | None = None
            self._serial = {"page": 0, "stream": 0, "cancel": 0, "file": 0}

        @classmethod
        def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SoakSpider:
            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(spider.item_scraped, signal=signals.item_scraped)
            crawler.signals.connect(spider.item_failed, signal=signals.item_error)
            crawler.signals.connect(spider.item_failed, signal=signals.item_dropped)
            return spider

        # -- pacing and sampling (bounded waits) --

        async def sleep(self, seconds: float) -> None:
            from twisted.internet import reactor

            await maybe_deferred_to_future(deferLater(reactor, seconds))

        async def wait_for(self, predicate: Callable[[], bool]) -> bool:
            """Wait until ``predicate()``, woken by each finished unit; False
            if the crawl's deadline passes first."""
            from twisted.internet import reactor

            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                changed: Deferred[None] = Deferred()
                self._changed = changed
                changed.addTimeout(min(remaining, 1.0), reactor, onTimeoutCancel=lambda *_: None)
                await maybe_deferred_to_future(changed)
            return True

        def unit_done(self) -> None:
            from twisted.internet import reactor

            self.finished += 1
            if self.finished % 10_000 == 0:
                progress(f"{self.finished:,} units done, {self.counts}")
            changed, self._changed = self._changed, None
            if changed is not None and not changed.called:
                # Not from inside this callback: start() resumes on its own turn.
                reactor.callLater(0, lambda: None if changed.called else changed.callback(None))

        async def sample(self, label: str) -> None:
            gc.collect()
            settle_began = time.monotonic()
            while True:
                figures = measure(self.library, self.handlers, urls)
                settled = quiet(figures)
                if settled or time.monotonic() - settle_began >= config["settle"]:
                    break
                await self.sleep(0.05)
            figures |= {
                "label": label,
                "t_s": time.monotonic() - begun,
                "settle_s": time.monotonic() - settle_began,
                "settled": settled,
                **self.counts,
            }
            self.samples.append(figures)
            # Also as it is taken, so a crawl killed later keeps its samples.
            print(json.dumps({"sample": figures}, default=str), flush=True)
            progress(
                f"sample {label}: RSS {figures['rss_mib']:.1f} MiB, {figures['py_threads']} threads, "
                f"{figures['fds']} fds, {figures['sessions']} sessions, {figures['streams']} streams"
            )

        # -- the work --

        def error(self, message: str) -> None:
            if len(self.errors) < 10:
                self.errors.append(message)

        def units(self, phase: dict[str, int]) -> Iterator[Any]:
            """The phase's pages, with its streams and files spread among them."""
            pages = phase["requests"]
            slots = max(pages, phase["streams"], phase["files"])
            stream_at = spread(phase["streams"], slots)
            file_at = spread(phase["files"], slots)
            cancel_at = spread(phase["cancel"], phase["streams"])
            page_at = spread(pages, slots)
            for _ in range(slots):
                if next(page_at):
                    yield self.page_request()
                if next(stream_at):
                    yield self.stream_request(cancel=next(cancel_at))
                if next(file_at):
                    yield self.file_item()

        def page_request(self) -> Request:
            k = self._serial["page"]
            self._serial["page"] += 1
            url = f"{servers[k % 2]}/bytes?n={PAGE_SIZE}&i={k}"
            return Request(url, callback=self.parse_page, errback=self.failed_page, dont_filter=True)

        def stream_request(self, *, cancel: bool) -> Request:
            k = self._serial["stream"]
            self._serial["stream"] += 1
            kind = ("sse", "ndjson")[k % 2]
            count = 0 if cancel else STREAM_EVENTS  # a cancelled stream is endless
            name = "events" if kind == "sse" else "lines"
            url = (
                f"{servers[(k // 2) % 2]}/live/{kind}?id=soak-{k}&{name}={count}"
                f"&interval_ms={STREAM_INTERVAL_MS}"
            )
            style = None
            if cancel:
                style = CANCEL_STYLES[self._serial["cancel"] % len(CANCEL_STYLES)]
                self._serial["cancel"] += 1
            return Request(
                url,
                callback=self.parse_stream,
                errback=self.failed_stream,
                meta={"tls_client_stream": True},
                cb_kwargs={"kind": kind, "style": style},
                dont_filter=True,
            )

        def file_item(self) -> dict[str, Any]:
            k = self._serial["file"]
            self._serial["file"] += 1
            size = (2 + k % 3) * MIB
            server = servers[(k // 2) % 2]
            url = f"{server}/bytes?n={size}&i={k}" if k % 2 else f"{server}/live/bytes?n={size}&id=file-{k}"
            return {"file_urls": [url], "size": size}

        async def start(self) -> Any:
            self.handlers = [
                handler
                for handler in self.crawler.engine.downloader.handlers._handlers.values()
                if isinstance(handler, TLSClientDownloadHandler)
            ]
            self.library = self.handlers[0]._library
            await self.sample("before")
            for (name, label), phase in zip(PHASES, plan(config), strict=True):
                started = time.monotonic()
                done = True
                for unit in self.units(phase):
                    if not await self.wait_for(lambda: self.yielded - self.finished < window):
                        done = False
                        break
                    self.yielded += 1
                    yield unit
                done = done and await self.wait_for(lambda: self.finished >= self.yielded)
                self.phases.append(
                    {"phase": name, **phase, "seconds": time.monotonic() - started, "complete": done}
                )
                progress(f"{name} {'done' if done else 'NOT DONE'} in {time.monotonic() - started:.0f} s")
                await self.sample(label)
                if not done:
                    self.timed_out = name
                    raise CloseSpider("soak_timeout")

        def parse_page(self, response: Response) -> None:
            if len(response.body) == PAGE_SIZE:
                self.counts["pages_ok"] += 1
            else:
                self.counts["pages_failed"] += 1
                self.error(f"{response.url}: {len(response.body)} bytes, expected {PAGE_SIZE}")
            self.unit_done()

        def failed_page(self, failure: Failure) -> None:
            self.counts["pages_failed"] += 1
            self.error(f"page: {describe(failure)}")
            self.unit_done()

        async def parse_stream(self, response: Response, kind: str, style: str | None) -> None:
            try:
                stream = stream_of(response)
                frames = stream.sse() if kind == "sse" else stream.ndjson()
                got = 0
                if style is None:  # read to the end
                    async with stream:
                        async for _ in frames:
                            got += 1
                    ok = got == STREAM_EVENTS and stream.stopped is None
                elif style == "break":  # leave the async with block
                    async with stream:
                        async for _ in frames:
                            got += 1
                            if got >= CANCEL_AFTER:
                                break
                    ok = got == CANCEL_AFTER and stream.closed
                elif style == "cancel":
                    async for _ in frames:
                        got += 1
                        if got >= CANCEL_AFTER:
                            stream.cancel()
                            break
                    ok = got == CANCEL_AFTER and stream.closed
                else:  # "abandon": TLSClientStreamMiddleware cancels it when the callback ends
                    async for _ in frames:
                        got += 1
                        if got >= CANCEL_AFTER:
                            break
                    ok = got == CANCEL_AFTER
                if ok:
                    self.counts["streams_completed" if style is None else "streams_cancelled"] += 1
                else:
                    self.counts["streams_failed"] += 1
                    self.error(
                        f"{response.url} ({style or 'to the end'}): {got} events, stopped {stream.stopped}"
                    )
            except Exception as exc:
                self.counts["streams_failed"] += 1
                self.error(f"{response.url}: {type(exc).__name__}: {exc}")
            finally:
                self.unit_done()

        def failed_stream(self, failure: Failure) -> None:
            self.counts["streams_failed"] += 1
            self.error(f"stream: {describe(failure)}")
            self.unit_done()

        def item_scraped(self, item: dict[str, Any], response: Any, spider: Spider) -> None:
            files = item.get("files") or []
            path = files_store / files[0]["path"] if files else None
            if path is not None and path.is_file() and path.stat().st_size == item["size"]:
                self.counts["files_ok"] += 1
            else:
                self.counts["files_failed"] += 1
                self.error(f"file {item['file_urls'][0]}: not stored whole ({files})")
            self.unit_done()

        def item_failed(self, item: dict[str, Any], response: Any, spider: Spider, **kwargs: Any) -> None:
            self.counts["files_failed"] += 1
            self.error(f"file {item['file_urls'][0]}: {kwargs.get('failure') or kwargs.get('exception')}")
            self.unit_done()

    concurrency = config["concurrency"]
    handler_path = "scrapy_tlsclient.TLSClientDownloadHandler"
    settings = {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOAD_HANDLERS": {"http": handler_path, "https": handler_path},
        "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
        "SPIDER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientStreamMiddleware": 1000},
        "ITEM_PIPELINES": {"scrapy_tlsclient.TLSFilesPipeline": 1},
        "FILES_STORE": str(files_store),
        # Every request has dont_filter; no fingerprint set grows with the crawl.
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "TWISTED_REACTOR": REACTORS[config["reactor"]],
    }
    spider = crawl(SoakSpider, settings)
    crawl_s = time.monotonic() - begun

    if spider.library is not None:
        spider.samples.append(closed_sample(spider.library, spider.handlers, spider.samples[0], config))
        spider.samples[-1] |= {"t_s": time.monotonic() - begun, **spider.counts}
    partial = files_store / TEMP_DIR_NAME
    stats = spider.crawler.stats.get_stats() if spider.crawler.stats else {}
    result = {
        "samples": spider.samples,
        "phases": spider.phases,
        "counts": spider.counts,
        "errors": spider.errors,
        "timed_out": spider.timed_out,
        "crawl_s": crawl_s,
        "partial_files_left": len(list(partial.iterdir())) if partial.is_dir() else 0,
        "stats": {
            key: value
            for key, value in stats.items()
            if key.startswith(("tls_client/", "file_", "item_", "finish_reason", "log_count/ERROR"))
        },
        "peak_rss_mib": proc_status("VmHWM:") / 1024,
    }
    print(json.dumps(result, default=str), flush=True)


# --- parent: run the children and judge -------------------------------------


def load() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_reactor(reactor: str, args: argparse.Namespace, urls: dict[str, str]) -> dict[str, Any]:
    """One soak crawl in a fresh interpreter: its result, or why it failed."""
    with tempfile.TemporaryDirectory(prefix="soak-files-") as store:
        config = {
            "reactor": reactor,
            "urls": urls,
            "requests": args.requests,
            "streams": args.streams,
            "cancel": args.cancel,
            "files": args.files,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "settle": args.settle,
            "files_store": store,
            "work_timeout": max(60.0, args.timeout - 60),  # leaves time to close and sample
        }
        command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(config)]
        outcome: dict[str, Any] = {"reactor": reactor, "load_before": load()}
        started = time.monotonic()
        try:
            # The child's progress lines go straight to our stderr.
            done = subprocess.run(
                command, stdout=subprocess.PIPE, text=True, timeout=args.timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:  # subprocess.run has killed the child
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            failure = f"timeout after {args.timeout:.0f} s (killed)"
            return outcome | {"failure": failure, "wall_s": args.timeout, "samples": samples_in(output)}
        outcome |= {"wall_s": time.monotonic() - started, "load_after": load()}
        results = [line for line in done.stdout.splitlines() if line.startswith('{"samples"')]
        if done.returncode != 0 or not results:
            failure = f"exit {done.returncode} (its stderr is above)"
            return outcome | {"failure": failure, "samples": samples_in(done.stdout)}
        return outcome | json.loads(results[-1])


def samples_in(output: str) -> list[dict[str, Any]]:
    """The samples a child printed as it took them."""
    return [json.loads(line)["sample"] for line in output.splitlines() if line.startswith('{"sample"')]


def by_label(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {sample["label"]: sample for sample in samples}


def tcp_text(tcp: dict[str, int]) -> str:
    return ", ".join(f"{count} {key}" for key, count in tcp.items()) or "none"


def checks(result: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    """(what, met, the figures) for each target."""
    s = by_label(result["samples"])
    if any(label not in s for label in SAMPLES):
        return [("samples", False, f"only {', '.join(s)} taken")]
    start, end, closed, before = s["start"], s["end"], s["closed"], s["before"]
    after = [s[label] for label in ("middle", "end", "closed")]
    peak = max(after, key=lambda sample: sample["rss_mib"])
    growth = peak["rss_mib"] - start["rss_mib"]
    found: list[tuple[str, bool, str]] = [
        (
            f"RSS growth after warm-up <= {RSS_TARGET_MIB:g} MiB",
            growth <= RSS_TARGET_MIB,
            f"{growth:+.1f} MiB ({start['rss_mib']:.1f} at start, {peak['rss_mib']:.1f} at {peak['label']})",
        )
    ]
    # After the crawl (handlers closed): nothing more than before it began.
    for key, what in (
        ("py_threads", "Python threads"),
        ("fds", "file descriptors"),
        ("sockets", "sockets"),
        ("sessions", "native sessions"),
        ("goroutines", "goroutines"),
    ):
        ok = closed[key] <= before[key]
        found.append((f"{what} after close <= before", ok, f"before {before[key]}, closed {closed[key]}"))
    # At the end of the work (crawl still open): no more than after the warm-up.
    middle = s["middle"]
    for key, what in (
        ("py_threads", "Python threads"),
        ("other_fds", "file descriptors other than sockets"),
        ("sockets", "sockets"),
        ("sessions", "native sessions"),
        ("goroutines", "goroutines"),
    ):
        values = [
            sample["fds"] - sample["sockets"] if key == "other_fds" else sample[key]
            for sample in (start, middle, end)
        ]
        figures = "start {}, middle {}, end {}".format(*values)
        if key == "py_threads" and end[key] > start[key]:
            grew = {
                name: count - start["thread_names"].get(name, 0)
                for name, count in end["thread_names"].items()
                if count > start["thread_names"].get(name, 0)
            }
            figures += " (more at the end: " + ", ".join(f"{n!r} +{k}" for n, k in grew.items()) + ")"
        if key == "sockets":
            figures += f" (start {tcp_text(start['tcp'])}; end {tcp_text(end['tcp'])})"
        found.append((f"{what} at end <= start", values[2] <= values[0], figures))
    for key, what in (
        ("streams", "native open streams"),
        ("calls", "native calls in flight"),
        ("untaken", "native untaken buffers"),
        ("outstanding", "outstanding native buffers"),
        ("pending", "native pending completions"),
        ("h_in_flight", "handler downloads in flight"),
        ("h_live", "handler live stream bodies"),
        ("registry", "live ResponseStream objects"),
        ("server_open", "server /live streams open"),
    ):
        values = [s[label][key] for label in SAMPLES]
        found.append((f"{what}: 0 in every sample", all(v == 0 for v in values), "/".join(map(str, values))))
    counts = result["counts"]
    expected = {
        "pages_ok": args.requests,
        "streams_completed": args.streams - args.cancel,
        "streams_cancelled": args.cancel,
        "files_ok": args.files,
    }
    failed = counts["pages_failed"] + counts["streams_failed"] + counts["files_failed"]
    work_ok = all(counts[key] == value for key, value in expected.items()) and not failed
    found.append(
        (
            "all work done, no errors",
            work_ok and not result["timed_out"] and not result["partial_files_left"],
            f"{counts['pages_ok']:,} pages, {counts['streams_completed']} streams to the end, "
            f"{counts['streams_cancelled']} cancelled, {counts['files_ok']} files; {failed} failed; "
            f"{result['partial_files_left']} partial files left",
        )
    )
    return found


COLUMNS = (
    ("sample", "label"),
    ("t s", "t_s"),
    ("pages", "pages_ok"),
    ("streams", None),
    ("files", "files_ok"),
    ("RSS MiB", "rss_mib"),
    ("malloc", "malloc_mib"),
    ("py kblk", "py_kblocks"),
    ("py thr", "py_threads"),
    ("OS thr", "os_threads"),
    ("fds", "fds"),
    ("socks", "sockets"),
    ("sess", "sessions"),
    ("strm", "streams"),
    ("calls", "calls"),
    ("gorout", "goroutines"),
    ("bufs", "untaken"),
    ("outst", "outstanding"),
    ("pend", "pending"),
    ("tomb", "tombstones"),
    ("h.fly", "h_in_flight"),
    ("h.live", "h_live"),
    ("h.sess", "h_sessions"),
    ("reg", "registry"),
    ("srv", "server_open"),
    ("settle s", "settle_s"),
)


def cell(sample: dict[str, Any], key: str | None) -> str:
    if key is None:
        return f"{sample['streams_completed'] + sample['streams_cancelled']}"
    value = sample[key]
    if key in ("rss_mib", "malloc_mib", "py_kblocks"):
        return f"{value:.1f}"
    if key in ("t_s", "settle_s"):
        return f"{value:.1f}" if key == "settle_s" else f"{value:.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(samples: list[dict[str, Any]]) -> None:
    table = [[title for title, _ in COLUMNS]] + [[cell(s, key) for _, key in COLUMNS] for s in samples]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def print_result(result: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    print(f"reactor {result['reactor']} ({REACTORS[result['reactor']]})")
    print(f"  load average before {result['load_before']}, after {result.get('load_after', '?')}")
    if "failure" in result:
        print(f"  FAILED: {result['failure']}")
        if result["samples"]:
            print("  samples taken before:")
            print_table(result["samples"])
        return [("crawl", False, result["failure"])]
    phases = ", ".join(
        f"{p['phase']} {p['seconds']:.0f} s{'' if p['complete'] else ' (NOT DONE)'}" for p in result["phases"]
    )
    pages_s = result["counts"]["pages_ok"] / result["crawl_s"] if result["crawl_s"] else 0
    print(
        f"  run {result['wall_s']:.0f} s (crawl {result['crawl_s']:.0f} s: {phases}; "
        f"{pages_s:,.0f} pages/s overall); peak RSS {result['peak_rss_mib']:.1f} MiB"
    )
    if result["timed_out"]:
        print(
            f"  STOPPED: the work deadline passed during the {result['timed_out']} (a hang?); "
            "sampled, then closed"
        )
    print()
    print_table(result["samples"])
    print()
    found = checks(result, args)
    for what, ok, figures in found:
        print(f"  {'met ' if ok else 'MISS'}  {what}: {figures}")
    for error in result["errors"]:
        print(f"  error: {error}")
    stats = result["stats"]
    print(
        f"  stats: tls_client/requests {stats.get('tls_client/requests', 0):,}, streams opened/closed "
        f"{stats.get('tls_client/streams/opened', 0)}/{stats.get('tls_client/streams/closed', 0)}, "
        f"files stored {stats.get('tls_client/files_stored', 0)}, "
        f"body_file stored/discarded {stats.get('tls_client/body_file/stored', 0)}/"
        f"{stats.get('tls_client/body_file/discarded', 0)}, "
        f"ERROR log lines {stats.get('log_count/ERROR', 0)}"
    )
    print(f"  verdict: {'all targets met' if all(ok for _, ok, _ in found) else 'TARGETS MISSED'}")
    print()
    return found


def write_json(path: str, args: argparse.Namespace, results: list[dict[str, Any]], total_s: float) -> None:
    report = {
        "benchmark": "soak",
        "command": command(),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "requests": args.requests,
        "streams": args.streams,
        "cancel": args.cancel,
        "files": args.files,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "targets": {"rss_growth_mib_max": RSS_TARGET_MIB},
        "total_s": total_s,
        "results": [
            result | {"checks": [{"what": w, "met": ok, "figures": f} for w, ok, f in checks(result, args)]}
            if "failure" not in result
            else result
            for result in results
        ],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--reactor", choices=("both", *REACTORS), default="both", help="both: asyncio, then default"
    )
    parser.add_argument("--requests", type=int, default=100_000, help="small-page requests")
    parser.add_argument("--streams", type=int, default=1000, help="streamed responses")
    parser.add_argument("--cancel", type=int, default=300, help="streams stopped midway (of --streams)")
    parser.add_argument("--files", type=int, default=50, help="files through TLSFilesPipeline")
    parser.add_argument("--warmup", type=float, default=0.05, help="share of each count in the warm-up")
    parser.add_argument("--concurrency", type=int, default=64, help="CONCURRENT_REQUESTS")
    parser.add_argument("--settle", type=float, default=10.0, help="max seconds a sample waits for quiet")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds before a crawl is killed")
    parser.add_argument("--json", metavar="PATH", help="also write every sample here as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.requests, args.streams, args.cancel, args.files) < 0 or args.cancel > args.streams:
        parser.error("counts must not be negative, and --cancel at most --streams")
    if not 0 < args.warmup < 1 or args.concurrency < 1:
        parser.error("--warmup must be between 0 and 1 and --concurrency positive")
    return args


def main() -> None:
    args = parse_args()
    if args.child is not None:
        run_child(json.loads(args.child))
        return
    if isinstance(sys.stdout, io.TextIOWrapper):  # keep the report in order with the progress on stderr
        sys.stdout.reconfigure(line_buffering=True)
    reactors = list(REACTORS) if args.reactor == "both" else [args.reactor]
    print(f"command: {command()}")
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}; load average {load()}")
    print(
        f"work per reactor: {args.requests:,} pages of {PAGE_SIZE} bytes, {args.streams:,} streams "
        f"({args.cancel} stopped after {CANCEL_AFTER} events, the rest {STREAM_EVENTS} events to the end), "
        f"{args.files} files of 2-4 MiB; HTTPS/1.1 and HTTP/2 alternating; {args.concurrency} in flight; "
        f"warm-up {args.warmup:.0%}, then two halves"
    )
    print()
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with test_server() as urls:
        for reactor in reactors:
            print(f"  running the soak under the {reactor} reactor...", file=sys.stderr, flush=True)
            results.append(run_reactor(reactor, args, urls))
    total_s = time.monotonic() - started
    verdicts = [print_result(result, args) for result in results]
    print(f"total run time {total_s:.0f} s")
    met = all(ok for found in verdicts for _, ok, _ in found)
    print(f"overall: {'all targets met' if met else 'TARGETS MISSED'}")
    if args.json:
        write_json(args.json, args, results, total_s)


if __name__ == "__main__":
    main()
