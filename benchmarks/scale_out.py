"""Scale-out throughput: pages/s of 1, 2 and 4 crawler processes sharing one
crawl of the demo site through Redis (example_project/run_distributed.py's
parts: scrapy-redis scheduler and duplicate filter, this project's handler
and middlewares).

    python benchmarks/scale_out.py [--processes 1 2 4] [--products-per-category 150] [--repeat 2]

For each process count: a fresh Redis server and catalogue, the start URLs
seeded, N ``scrapy crawl shop -a files=0 -a feeds=0`` processes (HTML pages
only, LOG_LEVEL WARNING), each closing 1 s after running out of work. The
demo site (Python, in this process) counts what it serves: pages/s is the
pages served over the time from the first to the last page, so process
start-up and the idle tail are left out (the wall time column has them).
CPU is user + system time, all threads: the crawlers' and the demo site's
(this process) over that same time (sampled every 0.1 s), Redis's over the
whole run; ``cores busy`` is their sum over the crawl time, which cannot
exceed the machine's cores; ``start+stop CPU s`` is what the crawlers spent
outside the crawl (imports, start-up, idle close). Every page must have
been served exactly once, or the run is reported as failed. The ``1*`` row is one process with Scrapy's own
in-memory scheduler and duplicate filter instead of scrapy-redis's (start
URLs still from Redis): what the shared queue costs per page. A benchmark,
not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _report import version

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_project"))

import demo_site
import run_distributed


@dataclass(frozen=True)
class Run:
    pages: int
    crawl_s: float
    wall_s: float
    #: CPU seconds while the site served the crawl (first to last page).
    crawler_cpu_s: float
    site_cpu_s: float
    #: Redis's CPU seconds over the whole run (it has nothing else to do).
    redis_cpu_s: float
    #: The crawlers' CPU seconds outside that window: start-up, idle, close.
    overhead_cpu_s: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.crawl_s

    @property
    def cores_busy(self) -> float:
        return (self.crawler_cpu_s + self.site_cpu_s + self.redis_cpu_s) / self.crawl_s


@dataclass(frozen=True)
class Sample:
    at: float
    crawlers_cpu: float
    site_cpu: float


TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """User + system seconds of a running process, all threads; None once gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: Scrapy's own scheduler and duplicate filter, for the one-process baseline.
LOCAL_QUEUE = {
    "SCHEDULER": "scrapy.core.scheduler.Scheduler",
    "DUPEFILTER_CLASS": "scrapy.dupefilters.RFPDupeFilter",
}


def sample_until_done(crawlers: list[run_distributed.Crawler], deadline: float) -> list[Sample]:
    """Wait for the crawlers, sampling their CPU time every 0.1 s (a
    process that exited keeps its last reading)."""
    last: dict[int, float] = {}
    samples: list[Sample] = []
    while True:
        for crawler in crawlers:
            cpu = process_cpu(crawler.process.pid)
            if cpu is not None and crawler.process.poll() is None:
                last[crawler.process.pid] = cpu
        samples.append(Sample(time.monotonic(), sum(last.values()), time.process_time()))
        if all(crawler.process.poll() is not None for crawler in crawlers):
            return samples
        if time.monotonic() > deadline:
            raise TimeoutError("crawlers still running at the deadline")
        time.sleep(0.1)


def window(samples: list[Sample], first: float, last: float) -> tuple[Sample, Sample]:
    """The samples just before ``first`` and just after ``last``."""
    before = [sample for sample in samples if sample.at <= first] or samples[:1]
    after = [sample for sample in samples if sample.at >= last] or samples[-1:]
    return before[-1], after[0]


def crawl(
    args: argparse.Namespace, site: demo_site.DemoServer, site_url: str, processes: int, local_queue: bool
) -> Run | str:
    """One crawl of a fresh catalogue by ``processes`` crawlers: its figures,
    or why it failed."""
    shop = site.shop = demo_site.Shop(
        categories=args.categories, products_per_category=args.products_per_category
    )
    settings = {
        "LOG_LEVEL": "WARNING",
        "CONCURRENT_REQUESTS": str(args.concurrency),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(args.concurrency),
        "MAX_IDLE_TIME_BEFORE_CLOSE": "1",
        **(LOCAL_QUEUE if local_queue else {}),
    }
    with tempfile.TemporaryDirectory(prefix="tlsclient-scale-out-") as tmp:
        workdir = Path(tmp)
        children_before = children_cpu()
        with run_distributed.redis_server(workdir / "redis") as redis_url:
            run_distributed.seed(redis_url, site_url, shop)
            started = time.monotonic()
            crawlers: list[run_distributed.Crawler] = []
            try:
                for index in range(processes):
                    crawler = run_distributed.start_crawler(
                        index, redis_url, workdir, settings, {"files": "0", "feeds": "0"}
                    )
                    crawlers.append(crawler)
                samples = sample_until_done(crawlers, started + args.timeout)
            except TimeoutError as exc:
                return f"failed: {exc}"
            finally:
                for crawler in crawlers:
                    run_distributed.stop(crawler.process)
            wall = time.monotonic() - started
            crawlers_total = children_cpu() - children_before
        redis_cpu = children_cpu() - children_before - crawlers_total
    pages = shop.page_paths()
    codes = [crawler.process.returncode for crawler in crawlers]
    wrong = [path for path in pages if shop.served[path] != 1]
    if any(codes) or wrong or shop.first_served is None or shop.last_served is None:
        return f"failed: exit codes {codes}, {len(wrong)} pages not served exactly once"
    before, after = window(samples, shop.first_served, shop.last_served)
    crawler_cpu = after.crawlers_cpu - before.crawlers_cpu
    return Run(
        pages=len(pages),
        crawl_s=shop.last_served - shop.first_served,
        wall_s=wall,
        crawler_cpu_s=crawler_cpu,
        site_cpu_s=after.site_cpu - before.site_cpu,
        redis_cpu_s=redis_cpu,
        overhead_cpu_s=crawlers_total - crawler_cpu,
    )


COLUMNS = (
    "processes",
    "pages",
    "pages/s",
    "crawl s",
    "wall s",
    "crawler CPU ms/page",
    "site CPU ms/page",
    "Redis CPU ms/page",
    "cores busy",
    "start+stop CPU s",
)


def row(label: str, runs: list[Run]) -> list[str]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    return [
        label,
        str(runs[0].pages),
        f"{median([r.pages_per_s for r in runs]):,.0f}",
        f"{median([r.crawl_s for r in runs]):.1f}",
        f"{median([r.wall_s for r in runs]):.1f}",
        f"{median([1000 * r.crawler_cpu_s / r.pages for r in runs]):.2f}",
        f"{median([1000 * r.site_cpu_s / r.pages for r in runs]):.2f}",
        f"{median([1000 * r.redis_cpu_s / r.pages for r in runs]):.2f}",
        f"{median([r.cores_busy for r in runs]):.2f}",
        f"{median([r.overhead_cpu_s for r in runs]):.1f}",
    ]


def print_table(rows: list[list[str]]) -> None:
    widths = [
        max(len(cells[i]) for cells in [list(COLUMNS), *rows] if len(cells) > i) for i in range(len(COLUMNS))
    ]
    for cells in [list(COLUMNS), *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=False)).rstrip())


def redis_version() -> str:
    done = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False, timeout=10
    )
    return done.stdout.split()[2].removeprefix("v=") if done.returncode == 0 else "not found"


def print_header(args: argparse.Namespace) -> None:
    print(f"command: python {shlex.join(sys.argv)}")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}; "
        f"Scrapy {version('scrapy')}, scrapy-redis {version('scrapy-redis')}, Redis {redis_version()}, "
        f"scrapy-tlsclient {version('scrapy-tlsclient')}"
    )
    print(
        f"crawl: demo site /shop/, {args.categories} x {args.products_per_category} products, HTML pages "
        f"only; CONCURRENT_REQUESTS {args.concurrency} per process; median of {args.repeat} run(s)"
    )
    print()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--products-per-category", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=16, help="CONCURRENT_REQUESTS per process")
    parser.add_argument("--repeat", type=int, default=1, help="runs per process count; medians shown")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a crawl is stopped")
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the one-process in-memory queue row",
    )
    args = parser.parse_args()
    if min(args.processes) < 1 or args.repeat < 1 or args.categories < 1 or args.products_per_category < 1:
        parser.error("--processes, --repeat, --categories and --products-per-category must be positive")
    return args


def measure(
    args: argparse.Namespace, site: demo_site.DemoServer, site_url: str, processes: int, local_queue: bool
) -> list[str]:
    """``--repeat`` crawls with one setup: its table row."""
    label = f"{processes}*" if local_queue else str(processes)
    runs: list[Run] = []
    for attempt in range(1, args.repeat + 1):
        result = crawl(args, site, site_url, processes, local_queue)
        note = result if isinstance(result, str) else f"{result.pages_per_s:,.0f} pages/s"
        print(f"  {label} process(es), run {attempt}/{args.repeat}: {note}", file=sys.stderr, flush=True)
        if isinstance(result, str):
            return [label, result]
        runs.append(result)
    return row(label, runs)


def main() -> None:
    args = parse_args()
    print_header(args)
    site, site_url = demo_site.start()
    try:
        rows = [measure(args, site, site_url, 1, local_queue=True)] if args.baseline else []
        rows += [measure(args, site, site_url, processes, local_queue=False) for processes in args.processes]
    finally:
        site.shutdown()
    print_table(rows)


if __name__ == "__main__":
    main()
