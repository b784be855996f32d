"""Per-event latency of live streams: scrapy-tlsclient's streams vs Scrapy's HTTP11DownloadHandler.

    python benchmarks/stream_latency.py --seconds 10 --server h2

Starts the loopback test server once; its ``/live/sse`` endpoint sends one
Server-Sent Event every ``--interval-ms`` (default 10 ms: 100 events/s per
stream), each carrying ``sent_ns``, the server's ``time.Now()`` when it
formats the event (written and flushed right after). Server and crawler run
on the same machine, so the latency of an event is the crawler's
``time.time_ns()`` when the event is received minus ``sent_ns``, on one
wall clock.

For each stream count in ``--streams`` (default 1 and 100, all concurrent),
each configuration runs one Scrapy crawl in a fresh subprocess (a Twisted
reactor cannot restart), killed after ``--seconds`` + 60 s:

* ``tlsclient``: ``scrapy_tlsclient.TLSClientDownloadHandler``, requests with
  ``meta={"tls_client_stream": True}``, an async callback reading
  ``stream_of(response).sse()``; "received" is when the callback's
  ``async for`` yields the event. The streams are endless (``events=0``);
  each callback breaks out of its loop ``--seconds`` after it started
  reading, which ends the crawl. Run on ``--server`` and, if that is not
  ``https``, on ``https`` too, for the comparison with HTTP11.
* ``http11``: Scrapy's default handler, which has no streaming API but sends
  ``bytes_received`` per piece as it arrives; "received" is that signal
  bringing the event's last bytes (an event split across pieces is received
  with the piece that ends it). The streams have ``--seconds`` worth of
  events (``events=`` rate x seconds), so the responses end. HTTP11 speaks
  HTTP/1.1 only: always the ``https`` (HTTP/1.1 over TLS) server.

Events measured, per stream: from ``--warmup`` seconds after the stream's
first event (warm-up skipped) until the first stream of the crawl stopped
(the end of the run, when streams stop one after the other, is reported
apart: "incl. end"). While streaming the spider only records arrival times
and the raw data (in arrays, nothing for the garbage collector to walk);
parsing happens after the crawl, so the measurement adds no work to the
event loop beyond taking the time.

The main table shows p50/p90/p99/max of the measured events, the targets
for the tlsclient rows (p50 <= 2 ms, p99 <= 20 ms) and the tlsclient/http11
ratio of p50 and p99 at the same stream count (below 1: tlsclient is
faster). A second table gives context: the tail including the end of the
run, the latency of each stream's first event (event 0, inside the
warm-up), the crawl process's CPU use (100 % = one core) and the whole
machine's (100 % = every core busy; the test server and anything else
running count). ``--json PATH`` also writes both tables' figures, with the
command, the machine and the date, to PATH as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _crawl import crawl, describe
from _report import command, machine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _testserver import test_server

HANDLER_PATHS = {
    "tlsclient": "scrapy_tlsclient.TLSClientDownloadHandler",
    "http11": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
}
REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "twisted": "twisted.internet.epollreactor.EPollReactor",
}
BASELINE = "http11"
BASELINE_SERVER = "https"  # HTTP11DownloadHandler speaks HTTP/1.1 only
P50_TARGET_MS = 2.0
P99_TARGET_MS = 20.0
SENT_NS = re.compile(rb'"sent_ns": (\d+)')
EVENT_N = re.compile(rb'"n": (\d+)')


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted microseconds, in ms."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1] / 1000


# --- child: one crawl ------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def host_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, all cores; (0, 0) if unknown."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_child(config: dict[str, Any]) -> None:
    """Run one crawl of ``config["streams"]`` concurrent streams; print a JSON line."""
    from scrapy import Request, Spider, signals
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    handler = config["handler"]
    seconds: float = config["seconds"]
    interval_ms: int = config["interval_ms"]
    events_per_stream = round(seconds * 1000 / interval_ms)

    class StreamSpider(Spider):
        name = "stream_latency"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # Per stream (request URL), what arrived when: event data
            # (tlsclient) or body pieces (http11), parsed after the crawl so
            # as not to hold up the event loop (and with it the other
            # streams). Times in an array and untracked str/bytes: nothing
            # added for the garbage collector to walk, whose pauses would
            # show as latency.
            self.arrivals: dict[str, tuple[array[int], list[Any]]] = {}
            self.protocols: set[str] = set()
            self.finished = self.errors = 0
            self.first_error = ""
            self.started = self.closed = (0.0, 0.0)  # (wall, cpu)
            self.host_started = self.host_closed = (0, 0)

        @classmethod
        def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> StreamSpider:
            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(spider.engine_started, signal=signals.engine_started)
            crawler.signals.connect(spider.spider_closed, signal=signals.spider_closed)
            if handler == BASELINE:
                crawler.signals.connect(spider.bytes_received, signal=signals.bytes_received)
            return spider

        def engine_started(self) -> None:
            self.started, self.host_started = (time.perf_counter(), cpu_seconds()), host_ticks()

        def spider_closed(self) -> None:
            self.closed, self.host_closed = (time.perf_counter(), cpu_seconds()), host_ticks()

        async def start(self) -> AsyncIterator[Request]:
            # tlsclient: endless streams, the callback stops reading after
            # `seconds`; http11: `seconds` worth of events, then the end.
            count = 0 if handler != BASELINE else events_per_stream
            for k in range(config["streams"]):
                url = (
                    f"{config['base']}/live/sse?id=latency-{handler}-{k}"
                    f"&events={count}&interval_ms={interval_ms}"
                )
                if handler == BASELINE:
                    yield Request(url, callback=self.parse_whole, errback=self.failed, dont_filter=True)
                else:
                    meta = {"tls_client_stream": True}
                    yield Request(
                        url, callback=self.parse_stream, errback=self.failed, meta=meta, dont_filter=True
                    )

        async def parse_stream(self, response: Response) -> None:
            """tlsclient: the time each event reaches the spider's loop."""
            from scrapy_tlsclient import stream_of

            self.protocols.add(str(response.protocol))
            times, data = self.arrivals.setdefault(response.url, (array("q"), []))
            deadline = time.time_ns() + int(seconds * 1e9)
            async with stream_of(response) as stream:
                async for event in stream.sse():
                    now = time.time_ns()
                    times.append(now)
                    data.append(event.data)
                    if now >= deadline:
                        break
            self.finished += 1

        def bytes_received(self, data: bytes, request: Request, spider: Spider) -> None:
            """http11: the time each piece of a body arrives."""
            now = time.time_ns()
            times, pieces = self.arrivals.setdefault(request.url, (array("q"), []))
            times.append(now)
            pieces.append(data)

        def parse_whole(self, response: Response) -> None:
            self.protocols.add(str(response.protocol))
            got = response.body.count(b"\n\n")
            if got == events_per_stream:
                self.finished += 1
            else:
                self.error(f"{response.url}: {got} events, expected {events_per_stream}")

        def failed(self, failure: Failure) -> None:
            self.error(describe(failure))

        def error(self, message: str) -> None:
            self.errors += 1
            self.first_error = self.first_error or message

    concurrency = max(16, config["streams"])
    settings = {
        "DOWNLOAD_HANDLERS": {"http": config["handler_path"], "https": config["handler_path"]},
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOAD_TIMEOUT": seconds + 600,
        "DOWNLOAD_MAXSIZE": 0,
        "DOWNLOAD_WARNSIZE": 0,
        "TWISTED_REACTOR": REACTORS[config["reactor"]],
    }
    spider = crawl(StreamSpider, settings)
    result = summarize_child(spider.arrivals, handler, config["warmup"])
    wall = spider.closed[0] - spider.started[0]
    host_busy = spider.host_closed[0] - spider.host_started[0]
    host_total = spider.host_closed[1] - spider.host_started[1]
    result |= {
        "streams_ok": spider.finished,
        "errors": spider.errors,
        "first_error": spider.first_error,
        "protocols": sorted(spider.protocols),
        "cpu_pct": 100 * (spider.closed[1] - spider.started[1]) / wall if wall > 0 else 0.0,
        "host_pct": 100 * host_busy / host_total if host_total > 0 else None,
    }
    print(json.dumps(result, separators=(",", ":")), flush=True)


def summarize_child(
    arrivals: dict[str, tuple[array[int], list[Any]]], handler: str, warmup: float
) -> dict[str, Any]:
    """Turn what arrived when into latencies: the measured ones, and the rest's summary."""
    streams: list[list[tuple[int, int, int]]] = []  # per stream: (received_ns, n, sent_ns)
    for times, data in arrivals.values():
        samples: list[tuple[int, int, int]] = []
        if handler != BASELINE:
            for now, text in zip(times, data, strict=True):
                payload = json.loads(text)
                samples.append((now, payload["n"], payload["sent_ns"]))
        else:
            buffer = b""  # an event is received with the piece that brings its end
            for now, piece in zip(times, data, strict=True):
                *complete, buffer = (buffer + piece).split(b"\n\n")
                for block in complete:
                    sent_match, n_match = SENT_NS.search(block), EVENT_N.search(block)
                    if sent_match and n_match:
                        samples.append((now, int(n_match.group(1)), int(sent_match.group(1))))
        if samples:
            streams.append(samples)
    warmup_ns = int(warmup * 1e9)
    # The end of the run: when the first stream stopped, the others are
    # still streaming while it is torn down.
    end_ns = min((samples[-1][2] for samples in streams), default=0)
    measured: list[int] = []
    after_warmup: list[int] = []
    first_events: list[float] = []
    warmup_events = gaps = 0
    for samples in streams:
        first_sent = samples[0][2]
        if samples[0][1] == 0:
            first_events.append((samples[0][0] - first_sent) / 1e6)
        for index, (received, n, sent) in enumerate(samples):
            if index and n != samples[index - 1][1] + 1:
                gaps += 1
            if sent - first_sent < warmup_ns:
                warmup_events += 1
                continue
            latency = (received - sent) // 1000
            after_warmup.append(latency)
            if sent <= end_ns:
                measured.append(latency)
    after_warmup.sort()
    return {
        "latencies_us": measured,
        "warmup_events": warmup_events,
        "end_events": len(after_warmup) - len(measured),
        "all_p99_ms": percentile(after_warmup, 0.99) if after_warmup else None,
        "all_max_ms": after_warmup[-1] / 1000 if after_warmup else None,
        "first_event_ms": first_events,
        "gaps": gaps,
    }


# --- parent: run the children and compare ----------------------------------


@dataclass(frozen=True)
class Config:
    handler: str
    server: str
    streams: int


@dataclass(frozen=True)
class Outcome:
    events: int = 0
    p50: float = 0.0  # ms
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    end_events: int = 0
    all_p99: float | None = None
    all_max: float | None = None
    first_event_p50: float | None = None
    first_event_max: float | None = None
    cpu_pct: float = 0.0
    host_pct: float | None = None
    protocol: str = ""
    note: str = ""  # a problem short of a failure (gaps, streams not finished)
    failure: str | None = None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_config(config: Config, args: argparse.Namespace, urls: dict[str, str]) -> Outcome:
    """One crawl in a fresh interpreter, summarized."""
    child_config = {
        "handler": config.handler,
        "handler_path": HANDLER_PATHS[config.handler],
        "base": urls[config.server],
        "streams": config.streams,
        "seconds": args.seconds,
        "interval_ms": args.interval_ms,
        "warmup": args.warmup,
        "reactor": args.reactor,
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(child_config)]
    timeout = args.seconds + 60
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        return Outcome(failure=f"timeout after {timeout:.0f} s")
    results = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not results:
        return Outcome(failure=f"failed: {last_line(done.stderr)}")
    result = json.loads(results[-1])
    latencies = sorted(result["latencies_us"])
    if not latencies:
        errors = f"{result['errors']} errors, first: {result['first_error']}"
        return Outcome(failure=f"no events measured; {errors}")
    notes = []
    if result["streams_ok"] != config.streams:
        notes.append(f"{result['streams_ok']}/{config.streams} streams ok")
    if result["errors"]:
        notes.append(f"{result['errors']} errors, first: {result['first_error']}")
    if result["gaps"]:
        notes.append(f"{result['gaps']} gaps in event numbers")
    first = result["first_event_ms"]
    return Outcome(
        events=len(latencies),
        p50=percentile(latencies, 0.50),
        p90=percentile(latencies, 0.90),
        p99=percentile(latencies, 0.99),
        max=latencies[-1] / 1000,
        end_events=result["end_events"],
        all_p99=result["all_p99_ms"],
        all_max=result["all_max_ms"],
        first_event_p50=statistics.median(first) if first else None,
        first_event_max=max(first) if first else None,
        cpu_pct=result["cpu_pct"],
        host_pct=result["host_pct"],
        protocol=",".join(result["protocols"]),
        note="; ".join(notes),
    )


def configs_for(args: argparse.Namespace) -> list[Config]:
    servers = dict.fromkeys([args.server, BASELINE_SERVER])
    configs: list[Config] = []
    for streams in args.streams:
        configs += [Config("tlsclient", server, streams) for server in servers]
        if not args.no_baseline:
            configs.append(Config(BASELINE, BASELINE_SERVER, streams))
    return configs


MAIN_COLUMNS = (
    "handler",
    "server",
    "protocol",
    "streams",
    "events",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "target",
    "p50 vs http11",
    "p99 vs http11",
    "notes",
)
CONTEXT_COLUMNS = (
    "handler",
    "server",
    "streams",
    "end events",
    "p99 incl. end",
    "max incl. end",
    "1st event p50 ms",
    "1st event max ms",
    "process CPU %",
    "machine CPU %",
)
TEXT_COLUMNS = {"handler", "server", "protocol", "target", "notes"}


def target_cell(config: Config, outcome: Outcome) -> str:
    if config.handler == BASELINE:
        return ""
    missed = [
        label
        for label, ok in (("p50", outcome.p50 <= P50_TARGET_MS), ("p99", outcome.p99 <= P99_TARGET_MS))
        if not ok
    ]
    return "pass" if not missed else "FAIL " + ",".join(missed)


def number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def vs_baseline(config: Config, outcome: Outcome, baseline: Outcome | None) -> tuple[float, float] | None:
    """The p50 and p99 ratios against HTTP11 at the same stream count, if both ran."""
    if config.handler == BASELINE or baseline is None or baseline.failure or outcome.failure:
        return None
    return outcome.p50 / baseline.p50, outcome.p99 / baseline.p99


def main_row(config: Config, outcome: Outcome, baseline: Outcome | None) -> list[str]:
    head = [config.handler, config.server]
    if outcome.failure:
        return [*head, outcome.failure]
    found = vs_baseline(config, outcome, baseline)
    ratios = [f"{ratio:.2f}x" for ratio in found] if found else ["", ""]
    return [
        *head,
        outcome.protocol,
        str(config.streams),
        f"{outcome.events:,}",
        number(outcome.p50),
        number(outcome.p90),
        number(outcome.p99),
        number(outcome.max),
        target_cell(config, outcome),
        *ratios,
        outcome.note,
    ]


def context_row(config: Config, outcome: Outcome) -> list[str]:
    head = [config.handler, config.server]
    if outcome.failure:
        return [*head, outcome.failure]
    return [
        *head,
        str(config.streams),
        f"{outcome.end_events:,}",
        number(outcome.all_p99),
        number(outcome.all_max),
        number(outcome.first_event_p50, 1),
        number(outcome.first_event_max, 1),
        number(outcome.cpu_pct, 0),
        number(outcome.host_pct, 0),
    ]


def print_table(columns: tuple[str, ...], rows: list[list[str]]) -> None:
    """Print rows under columns; a failed row's message runs on after handler and server."""
    table = [list(columns), *rows]
    full = [cells for cells in table if len(cells) == len(columns)]
    widths = [max(len(cells[i]) for cells in (full if i >= 2 else table)) for i in range(len(columns))]
    for cells in table:
        aligned = [
            cell.ljust(width) if columns[i] in TEXT_COLUMNS else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=False))
        ]
        if len(cells) != len(columns):
            aligned[-1] = cells[-1]
        print("  ".join(aligned).rstrip())


def print_header(args: argparse.Namespace) -> None:
    print(f"command: {command()}")
    print(f"machine: {machine()}; reactor {args.reactor}")
    print(
        f"streams: /live/sse, one event every {args.interval_ms} ms ({1000 / args.interval_ms:g} events/s "
        f"per stream) for {args.seconds:g} s; latency = receive time.time_ns() - server sent_ns"
    )
    print(
        f"measured: each stream's events from {args.warmup:g} s after its first event (warm-up) until "
        "the first stream of the crawl stopped (the end of the run: second table)"
    )
    print(
        f"  tlsclient: {HANDLER_PATHS['tlsclient']}, tls_client_stream + stream.sse(); "
        "received = the callback's async for yields the event"
    )
    print(
        f"  http11: {HANDLER_PATHS['http11']}; received = the bytes_received signal bringing the "
        f"event's end (HTTP/1.1 only: {BASELINE_SERVER} server)"
    )
    print(f"targets (tlsclient rows): p50 <= {P50_TARGET_MS:g} ms, p99 <= {P99_TARGET_MS:g} ms")
    print()


def write_json(path: str, args: argparse.Namespace, outcomes: dict[Config, Outcome]) -> None:
    """Both tables' figures, with the command, the machine and the date."""
    rows = []
    for config, outcome in outcomes.items():
        found = vs_baseline(config, outcome, outcomes.get(Config(BASELINE, BASELINE_SERVER, config.streams)))
        p50_ratio, p99_ratio = found if found else (None, None)
        target = None if outcome.failure else target_cell(config, outcome) or None
        entry = asdict(config) | asdict(outcome)
        rows.append(entry | {"target": target, "p50_vs_http11": p50_ratio, "p99_vs_http11": p99_ratio})
    report = {
        "benchmark": "stream_latency",
        "command": command(),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "reactor": args.reactor,
        "seconds": args.seconds,
        "interval_ms": args.interval_ms,
        "warmup": args.warmup,
        "handlers": HANDLER_PATHS,
        "baseline": BASELINE,
        "targets": {"p50_ms_max": P50_TARGET_MS, "p99_ms_max": P99_TARGET_MS},
        "results": rows,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each stream runs")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 100], help="concurrent streams")
    parser.add_argument("--interval-ms", type=int, default=10, help="between events of one stream")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds skipped at each stream's start")
    parser.add_argument("--server", choices=("h2", "https", "http"), default="h2", help="for tlsclient")
    parser.add_argument("--no-baseline", action="store_true", help="skip the http11 rows")
    parser.add_argument("--reactor", choices=sorted(REACTORS), default="asyncio")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seconds <= args.warmup or args.interval_ms < 1 or min(args.streams) < 1:
        parser.error("--seconds must exceed --warmup; --interval-ms and --streams must be positive")
    return args


def main() -> None:
    args = parse_args()
    if args.child is not None:
        run_child(json.loads(args.child))
        return
    if isinstance(sys.stdout, io.TextIOWrapper):  # keep the report in order with the progress on stderr
        sys.stdout.reconfigure(line_buffering=True)
    print_header(args)
    outcomes: dict[Config, Outcome] = {}
    with test_server() as urls:
        for config in configs_for(args):
            outcome = run_config(config, args, urls)
            outcomes[config] = outcome
            note = outcome.failure or f"p50 {outcome.p50:.2f} ms, p99 {outcome.p99:.2f} ms"
            print(f"  {config.handler} on {config.server}, {config.streams} streams: {note}", file=sys.stderr)
    print_table(
        MAIN_COLUMNS,
        [
            main_row(config, outcome, outcomes.get(Config(BASELINE, BASELINE_SERVER, config.streams)))
            for config, outcome in outcomes.items()
        ],
    )
    print()
    print_table(CONTEXT_COLUMNS, [context_row(config, outcome) for config, outcome in outcomes.items()])
    if args.json:
        write_json(args.json, args, outcomes)


if __name__ == "__main__":
    main()
