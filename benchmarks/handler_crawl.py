"""Crawl throughput: scrapy-tlsclient's handler against Scrapy's HTTP11DownloadHandler.

    python benchmarks/handler_crawl.py --pages 2000 --concurrency 32 128 --size 2048 --server https

Starts the loopback test server once, then for each concurrency and each
handler runs one Scrapy crawl of ``--pages`` unique ``/bytes?n=SIZE`` pages
in a fresh subprocess, so that CPU time and peak RSS belong to one handler.
Wall time and CPU time (user + system, all threads) run from the engine's
start to the spider's close, so interpreter start-up and imports are left
out; peak RSS is the child's whole-life high-water mark. Prints pages/s,
CPU ms per page and peak RSS for each handler, and for each handler other
than the ``http11`` baseline the ratios against it and whether they meet the
targets (>= 1.25x the pages/s, <= 0.8x the CPU per page). With ``--repeat R``
every crawl runs R times (handlers interleaved, their order alternating)
and the medians are shown, then the median of the CPU ratios of each
round's adjacent crawls (paired by round, which cancels the machine's slow
phases better). ``--json PATH`` also writes the figures, with
the command, the machine, the date and every run, to PATH as JSON.

One page of a large size measures a body read into a Response (MB/s):

    python benchmarks/handler_crawl.py --pages 1 --size 1073741824 --concurrency 1 --speed-target 1.5

``--middleware`` crawls every handler but ``http11`` with
``TLSClientMiddleware`` (the browser's headers), as users run it.
``--before DIR`` adds a handler ``before``: the tlsclient handler imported
from an older checkout's package in DIR (``PYTHONPATH=DIR``), the code
before a change measured in the same run.

``--handler-path NAME=dotted.Path`` (repeatable) points a handler name at
another class; a NAME not in ``--handlers`` is run as an extra handler.
``--handler-path null=_null_handler.NullHandler`` adds a handler that sends
nothing, which measures Scrapy's own cost per page;
``--handler-path aiohttp=_lazy_aiohttp.LazyAiohttpHandler`` adds Scrapy's
own aiohttp handler, a transport in the event loop's thread with no second
runtime.

``--env NAME:KEY=VALUE`` (repeatable) sets an environment variable for
NAME's crawls only, so that one run compares a setting with the default:
``--handler-path one=scrapy_tlsclient.TLSClientDownloadHandler --env
one:GOMAXPROCS=1`` crawls the handler once more with the Go runtime on one
thread.

The column "other threads" is the part of the CPU per page spent outside
the thread that runs the event loop (for this project's handler, the Go
library's threads; for Scrapy's handlers, its DNS thread pool): what the
whole-process figure leaves out of the handler's own Python work.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _crawl import crawl, describe
from _report import command, machine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _testserver import test_server

BASELINE = "http11"
HANDLER_PATHS = {
    "http11": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
    "tlsclient": "scrapy_tlsclient.TLSClientDownloadHandler",
}
REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "twisted": "twisted.internet.epollreactor.EPollReactor",
}
SPEED_TARGET = 1.25  # at least this many times the baseline's pages/s (--speed-target)
CPU_TARGET = 0.8  # at most this many times the baseline's CPU per page
#: The middleware every tlsclient-family handler crawls with under ``--middleware``
#: (the browser's headers, per request kind, as users run it).
MIDDLEWARE = {"scrapy_tlsclient.TLSClientMiddleware": 950}
#: Run with ``PYTHONPATH=--before``: the tlsclient handler of an older checkout.
BEFORE = "before"


# --- child: one crawl ------------------------------------------------------


def cpu_seconds() -> tuple[float, float]:
    """The process's CPU time (user + system, all threads, the ended ones
    included) and the calling thread's."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, time.thread_time()


def run_child(config: dict[str, Any]) -> None:
    """Run one crawl as described by ``config`` and print its JSON result line."""
    from scrapy import Request, Spider, signals
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    class BytesSpider(Spider):
        name = "handler_crawl"

        def __init__(self, base: str, pages: int, size: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.base, self.pages, self.size = base, pages, size
            self.ok = self.errors = 0
            self.first_error = ""
            # (wall, process CPU, the event loop thread's CPU); both signals
            # are sent in that thread.
            self.started = self.finished = (0.0, 0.0, 0.0)

        @classmethod
        def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> BytesSpider:
            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(spider.engine_started, signal=signals.engine_started)
            crawler.signals.connect(spider.spider_closed, signal=signals.spider_closed)
            return spider

        def engine_started(self) -> None:
            self.started = (time.perf_counter(), *cpu_seconds())

        def spider_closed(self) -> None:
            self.finished = (time.perf_counter(), *cpu_seconds())

        async def start(self) -> AsyncIterator[Request]:
            for k in range(self.pages):
                url = f"{self.base}/bytes?n={self.size}&i={k}"
                yield Request(url, callback=self.parse, errback=self.failed)

        def parse(self, response: Response, **kwargs: Any) -> None:
            if len(response.body) == self.size:
                self.ok += 1
            else:
                self.error(f"{response.url}: {len(response.body)} bytes, expected {self.size}")

        def failed(self, failure: Failure) -> None:
            self.error(describe(failure))

        def error(self, message: str) -> None:
            self.errors += 1
            self.first_error = self.first_error or message

    concurrency = config["concurrency"]
    settings = {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOAD_HANDLERS": {"http": config["handler"], "https": config["handler"]},
        "TWISTED_REACTOR": REACTORS[config["reactor"]],
        "DOWNLOADER_MIDDLEWARES": MIDDLEWARE if config["middleware"] else {},
    }
    spider = crawl(BytesSpider, settings, base=config["base"], pages=config["pages"], size=config["size"])
    result = {
        "pages": spider.ok,
        "errors": spider.errors,
        "first_error": spider.first_error,
        "wall_s": spider.finished[0] - spider.started[0],
        "cpu_s": spider.finished[1] - spider.started[1],
        "loop_thread_cpu_s": spider.finished[2] - spider.started[2],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(result), flush=True)


# --- parent: run the children and compare ----------------------------------


@dataclass(frozen=True)
class Outcome:
    """One handler at one concurrency: the medians over its runs, or why it failed."""

    pages_per_s: float = 0.0
    cpu_ms_per_page: float = 0.0
    other_threads_ms_per_page: float = 0.0  # CPU outside the event loop's thread
    peak_rss_mib: float = 0.0
    failure: str | None = None
    runs: tuple[dict[str, Any], ...] = ()  # the crawls' own results, in order


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_crawl(
    config: dict[str, Any], timeout: float, pythonpath: Path | None, extra_env: dict[str, str]
) -> dict[str, Any] | str:
    """Run one crawl in a fresh interpreter: its JSON result, or a failure message."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(config)]
    env = dict(os.environ) | extra_env
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        return f"timeout after {timeout:.0f} s"
    results = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not results:
        return f"failed: {last_line(done.stderr)}"
    result: dict[str, Any] = json.loads(results[-1])
    if result["pages"] != config["pages"]:
        errors = (
            f"{result['errors']} errors, first {result['first_error']}" if result["errors"] else "0 errors"
        )
        return f"failed: {result['pages']}/{config['pages']} pages ok, {errors}"
    return result


def summarize(results: list[dict[str, Any]]) -> Outcome:
    return Outcome(
        pages_per_s=statistics.median(r["pages"] / r["wall_s"] for r in results),
        cpu_ms_per_page=statistics.median(1000 * r["cpu_s"] / r["pages"] for r in results),
        other_threads_ms_per_page=statistics.median(
            1000 * max(0.0, r["cpu_s"] - r["loop_thread_cpu_s"]) / r["pages"] for r in results
        ),
        peak_rss_mib=statistics.median(r["peak_rss_mib"] for r in results),
        runs=tuple(results),
    )


def measure(
    args: argparse.Namespace, base: str, concurrency: int, handlers: dict[str, str]
) -> dict[str, Outcome]:
    """Run every handler ``--repeat`` times at one concurrency, interleaved."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in handlers}
    failures: dict[str, str] = {}
    for run in range(1, args.repeat + 1):
        order = list(handlers.items())
        for name, path in order if run % 2 else reversed(order):  # alternate who runs first
            if name in failures:
                continue
            config = {
                "base": base,
                "pages": args.pages,
                "size": args.size,
                "concurrency": concurrency,
                "handler": path,
                "reactor": args.reactor,
                "middleware": args.middleware and name != BASELINE,
            }
            pythonpath = args.before if name == BEFORE else None
            result = run_crawl(config, args.timeout, pythonpath, args.envs.get(name, {}))
            if isinstance(result, str):
                failures[name] = result
                note = result
            else:
                results[name].append(result)
                rate = result["pages"] / result["wall_s"]
                note = f"{rate:,.0f} pages/s, {rate * args.size / 1e6:,.0f} MB/s"
            progress = f"  concurrency {concurrency}, {name}, run {run}/{args.repeat}: {note}"
            print(progress, file=sys.stderr, flush=True)
    return {
        name: Outcome(failure=failures[name], runs=tuple(results[name]))
        if name in failures
        else summarize(results[name])
        for name in handlers
    }


def ratios(
    outcome: Outcome, baseline: Outcome | None, speed_target: float
) -> tuple[float, float, str] | None:
    """pages/s ratio, CPU ratio and the target check against the baseline, if both ran."""
    if baseline is None or baseline.failure or outcome.failure:
        return None
    speed = outcome.pages_per_s / baseline.pages_per_s
    cpu = outcome.cpu_ms_per_page / baseline.cpu_ms_per_page
    missed = [
        label for label, ok in (("pages/s", speed >= speed_target), ("CPU", cpu <= CPU_TARGET)) if not ok
    ]
    return speed, cpu, "met" if not missed else "missed: " + ", ".join(missed)


def paired_cpu_ratios(outcome: Outcome, baseline: Outcome | None) -> list[float] | None:
    """Each run's CPU per page over the baseline's run of the same round.

    The handlers of a round run one after the other, so a slow phase of
    the machine (they last minutes here) hits both crawls of a pair; the
    median of these ratios moves less than the ratio of two medians.
    """
    if baseline is None or outcome.failure or baseline.failure or len(outcome.runs) != len(baseline.runs):
        return None

    def cpu(run: dict[str, Any]) -> float:
        return float(run["cpu_s"]) / int(run["pages"])

    return [cpu(ours) / cpu(theirs) for ours, theirs in zip(outcome.runs, baseline.runs, strict=True)]


def print_paired(measured: list[tuple[int, dict[str, Outcome]]]) -> None:
    """With two runs or more: the median of the run-by-run CPU ratios."""
    for concurrency, outcomes in measured:
        baseline = outcomes.get(BASELINE)
        for name, outcome in outcomes.items():
            paired = None if name == BASELINE else paired_cpu_ratios(outcome, baseline)
            if paired and len(paired) > 1:
                median = statistics.median(paired)
                print(
                    f"  {concurrency:>4}  {name}: CPU ratio paired by round, median {median:.2f}x "
                    f"(rounds {min(paired):.2f}-{max(paired):.2f}x)"
                )


def verdict(outcome: Outcome, baseline: Outcome | None, speed_target: float) -> list[str]:
    """The ratio columns of one row: pages/s ratio, CPU ratio and the target check."""
    found = ratios(outcome, baseline, speed_target)
    if found is None:
        return ["", "", ""]
    speed, cpu, target = found
    return [f"{speed:.2f}x", f"{cpu:.2f}x", target]


COLUMNS = (
    "conc",
    "handler",
    "pages/s",
    "MB/s",
    "CPU ms/page",
    "other threads",
    "peak RSS MiB",
    "pages/s ratio",
    "CPU ratio",
    "target",
)


def row(
    concurrency: int, name: str, outcome: Outcome, baseline: Outcome | None, args: argparse.Namespace
) -> list[str]:
    if outcome.failure:
        return [str(concurrency), name, outcome.failure]
    numbers = [
        f"{outcome.pages_per_s:,.{0 if outcome.pages_per_s >= 10 else 2}f}",
        f"{outcome.pages_per_s * args.size / 1e6:,.0f}",
        f"{outcome.cpu_ms_per_page:.3f}",
        f"{outcome.other_threads_ms_per_page:.3f}",
        f"{outcome.peak_rss_mib:.1f}",
    ]
    compared = None if name == BASELINE else baseline
    return [str(concurrency), name, *numbers, *verdict(outcome, compared, args.speed_target)]


LEFT_ALIGNED = {1, len(COLUMNS) - 1}  # the handler and target columns are text


def format_cells(cells: list[str], widths: list[int]) -> str:
    aligned = (
        cell.ljust(width) if i in LEFT_ALIGNED else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths[: len(cells)], strict=True))
    )
    return "  ".join(aligned)


def print_table(rows: list[list[str]]) -> None:
    """Print the rows under COLUMNS; a failed row's message runs across the number columns."""
    table = [list(COLUMNS), *rows]
    widths = [
        max(len(cells[i]) for cells in table if i < 2 or len(cells) == len(COLUMNS))
        for i in range(len(COLUMNS))
    ]
    for cells in table:
        if len(cells) == len(COLUMNS):
            print(format_cells(cells, widths).rstrip())
        else:
            print(format_cells(cells[:2], widths) + "  " + cells[2])


def print_header(args: argparse.Namespace, handlers: dict[str, str]) -> None:
    print(f"command: {command()}")
    print(f"machine: {machine()}")
    print(
        f"crawl: {args.pages} pages of {args.size} bytes over {args.server}, reactor {args.reactor}, "
        f"median of {args.repeat} run(s); targets vs {BASELINE}: >= {args.speed_target}x pages/s, "
        f"<= {CPU_TARGET}x CPU/page"
    )
    for name, path in handlers.items():
        where = f" from {args.before}" if name == BEFORE else ""
        with_mw = " + TLSClientMiddleware" if args.middleware and name != BASELINE else ""
        env = "".join(f", {key}={value}" for key, value in args.envs.get(name, {}).items())
        print(f"  {name}: {path}{with_mw}{where}{env}")
    print()


def write_json(
    path: str,
    args: argparse.Namespace,
    handlers: dict[str, str],
    measured: list[tuple[int, dict[str, Outcome]]],
) -> None:
    """The printed figures and every run, with the command, the machine and the date."""
    rows = []
    for concurrency, outcomes in measured:
        baseline = outcomes.get(BASELINE)
        for name, outcome in outcomes.items():
            found = None if name == BASELINE else ratios(outcome, baseline, args.speed_target)
            speed, cpu, target = found if found else (None, None, None)
            entry = {"concurrency": concurrency, "handler": name, **asdict(outcome)}
            paired = None if name == BASELINE else paired_cpu_ratios(outcome, baseline)
            paired_median = statistics.median(paired) if paired else None
            rows.append(
                entry
                | {"pages_per_s_ratio": speed, "cpu_ratio": cpu, "target": target}
                | {"paired_cpu_ratios": paired, "paired_cpu_ratio": paired_median}
            )
    report = {
        "benchmark": "handler_crawl",
        "command": command(),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "pages": args.pages,
        "size": args.size,
        "server": args.server,
        "reactor": args.reactor,
        "middleware": args.middleware,
        "before": str(args.before) if args.before else None,
        "repeat": args.repeat,
        "handlers": handlers,
        "env": args.envs,
        "baseline": BASELINE,
        "targets": {"pages_per_s_ratio_min": args.speed_target, "cpu_ratio_max": CPU_TARGET},
        "results": rows,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def handler_paths(args: argparse.Namespace) -> dict[str, str]:
    """The handlers to run, in order: ``--handlers``, then extra ``--handler-path`` names."""
    paths = dict(HANDLER_PATHS)
    extra: list[str] = []
    for spec in args.handler_path:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--handler-path wants NAME=dotted.path, got {spec!r}")
        paths[name] = path
        if name not in args.handlers:
            extra.append(name)
    if args.before is not None:
        paths[BEFORE] = HANDLER_PATHS["tlsclient"]
        extra.append(BEFORE)
    unknown = [name for name in args.handlers if name not in paths]
    if unknown:
        raise SystemExit(f"unknown handler(s) {', '.join(unknown)}: give --handler-path NAME=dotted.path")
    return {name: paths[name] for name in dict.fromkeys([*args.handlers, *extra])}


def handler_envs(specs: list[str], handlers: dict[str, str]) -> dict[str, dict[str, str]]:
    """``--env NAME:KEY=VALUE`` specs as {NAME: {KEY: VALUE}}, each NAME a handler to run."""
    envs: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, colon, assignment = spec.partition(":")
        key, equals, value = assignment.partition("=")
        if not colon or not equals or not key:
            raise SystemExit(f"--env wants NAME:KEY=VALUE, got {spec!r}")
        if name not in handlers:
            raise SystemExit(f"--env {spec!r}: no handler {name!r} runs; running: {', '.join(handlers)}")
        envs.setdefault(name, {})[key] = value
    return envs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=2000, help="pages per crawl")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128], help="CONCURRENT_REQUESTS")
    parser.add_argument("--size", type=int, default=2048, help="body bytes per page")
    parser.add_argument("--server", choices=("http", "https", "h2"), default="https")
    parser.add_argument("--repeat", type=int, default=1, help="runs per combination; the median is shown")
    parser.add_argument("--handlers", nargs="+", default=[BASELINE, "tlsclient"], help="names to run")
    parser.add_argument(
        "--handler-path", action="append", default=[], metavar="NAME=PATH", help="handler class for NAME"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help="an environment variable for NAME",
    )
    parser.add_argument(
        "--speed-target",
        type=float,
        default=SPEED_TARGET,
        help="the least pages/s (so MB/s) ratio to the baseline that meets the target",
    )
    parser.add_argument(
        "--middleware", action="store_true", help="crawl with TLSClientMiddleware (all but http11)"
    )
    parser.add_argument(
        "--before", type=Path, help="a directory with an older scrapy_tlsclient: run it as 'before'"
    )
    parser.add_argument("--reactor", choices=sorted(REACTORS), default="asyncio")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a crawl is killed")
    parser.add_argument("--json", metavar="PATH", help="also write the figures and runs here as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pages < 1 or args.repeat < 1 or args.size < 0:
        parser.error("--pages and --repeat must be positive and --size not negative")
    return args


def main() -> None:
    args = parse_args()
    if args.child is not None:
        run_child(json.loads(args.child))
        return
    if isinstance(sys.stdout, io.TextIOWrapper):  # keep the report in order with the progress on stderr
        sys.stdout.reconfigure(line_buffering=True)
    handlers = handler_paths(args)
    args.envs = handler_envs(args.env, handlers)
    print_header(args, handlers)
    rows: list[list[str]] = []
    measured: list[tuple[int, dict[str, Outcome]]] = []
    with test_server() as urls:
        for concurrency in args.concurrency:
            outcomes = measure(args, urls[args.server], concurrency, handlers)
            measured.append((concurrency, outcomes))
            baseline = outcomes.get(BASELINE)
            rows += [row(concurrency, name, outcome, baseline, args) for name, outcome in outcomes.items()]
    print_table(rows)
    print_paired(measured)
    if args.json:
        write_json(args.json, args, handlers, measured)


if __name__ == "__main__":
    main()
