"""The example project's main job, ``python run_demo.py``, against its
local demo site: what it prints is what the README promises."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
sys.path.insert(0, str(EXAMPLE))

import demo_site  # noqa: E402

#: The real browsers' published values (tests/handler/test_fingerprints.py
#: checks the same with the Go fingerprint server; the demo site computes
#: them in Python, example_project/fingerprint.py).
PUBLISHED = {
    "chrome_150": (
        "t13d1516h2_8daaf6152771_806a8c22fdea",
        "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p",
    ),
    "firefox_135": (None, "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s"),
    "safari_ios_18_5": (
        "t13d2014h2_a09f3c656075_e42f34c56612",
        "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p",
    ),
}


@dataclass
class Demo:
    items: list[dict[str, Any]]
    log: list[str]  # what run_demo.py printed on stderr
    store: Path

    def items_of(self, **fields: str) -> list[dict[str, Any]]:
        return [item for item in self.items if all(item.get(k) == v for k, v in fields.items())]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One run of the main job, as the README gives it (files in a temporary store)."""
    store = tmp_path_factory.mktemp("demo-files")
    result = subprocess.run(
        [sys.executable, "run_demo.py"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ, DEMO_FILES_STORE=str(store)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return Demo(items, result.stderr.splitlines(), store)


def lines_of(demo: Demo, logger: str) -> list[str]:
    return [line for line in demo.log if f"[{logger}] INFO: " in line]


@pytest.mark.parametrize("spider", ["sse", "ndjson"])
def test_feed_spiders_show_each_event_as_it_arrives(demo: Demo, spider: str) -> None:
    items = demo.items_of(feed=spider)
    assert len(items) == 20
    # TLSFilesPipeline is enabled only by the spiders that download files.
    assert all("files" not in item for item in items)
    if spider == "sse":
        # The demo feed ends after 10 events: the rest came after a reconnection with Last-Event-ID.
        assert [item["id"] for item in items] == [str(n) for n in range(20)]
        assert all(item["event"] == "quote" for item in items)
    else:
        assert [item["value"]["n"] for item in items] == list(range(20))
    # Live: the feed sends an event every 50 ms, and they arrive spread out
    # in order, not all at once at the end.
    arrivals = [item["arrived_s"] for item in items]
    assert arrivals == sorted(arrivals)
    assert arrivals[-1] - arrivals[0] >= 19 * 0.05 * 0.8
    lines = lines_of(demo, spider)
    assert len(lines) == 20
    assert all(
        re.search(rf"\+{item['arrived_s']:.3f} s ", line) for item, line in zip(items, lines, strict=True)
    )


def test_ticker_spider_reads_a_websocket_feed_as_it_arrives(demo: Demo) -> None:
    items = demo.items_of(feed="ticker")
    assert [item["quote"]["n"] for item in items] == list(range(20))
    assert all(item["quote"]["symbol"] == "ACME" for item in items)  # the subscription reached the feed
    arrivals = [item["arrived_s"] for item in items]
    assert arrivals == sorted(arrivals)
    assert arrivals[-1] - arrivals[0] >= 19 * 0.05 * 0.8
    assert len(lines_of(demo, "ticker")) == 20


def test_binaries_spider_stores_the_small_files_with_the_pipeline(demo: Demo) -> None:
    items = [item for item in demo.items if "file_urls" in item]
    assert sorted(item["name"] for item in items) == sorted(demo_site.BINARIES)
    for item in items:
        (stored,) = item["files"]
        data = (demo.store / stored["path"]).read_bytes()
        assert len(data) == demo_site.BINARIES[item["name"]]
        assert hashlib.md5(data).hexdigest() == stored["checksum"]


def test_large_file_shows_progress_under_its_final_path_and_ends_with_its_checksum(demo: Demo) -> None:
    final = demo.store.resolve() / "large" / demo_site.LARGE_FILE
    assert demo_site.LARGE_SIZE >= 200 * 1024 * 1024
    progress = [
        line
        for line in lines_of(demo, "scrapy_tlsclient")
        if line.split("INFO: ")[1].startswith("Downloading")
    ]
    assert progress, "\n".join(demo.log)
    assert all(f"/files/{demo_site.LARGE_FILE} to {final}: " in line for line in progress)
    assert all(re.search(r": [\d.]+ of 256\.0 MiB \(\d+%\), [\d.]+ MiB/s$", line) for line in progress), (
        progress
    )
    (stored,) = lines_of(demo, "binaries")
    sha256 = hashlib.sha256()
    with final.open("rb") as file:
        while piece := file.read(1 << 20):
            sha256.update(piece)
    assert final.stat().st_size == demo_site.LARGE_SIZE
    assert sha256.hexdigest() == demo_site.large_sha256()
    assert stored.endswith(
        f"Stored {final}: {demo_site.LARGE_SIZE} bytes, SHA-256 {demo_site.large_sha256()} "
        "(matches the site's SHA256SUMS)"
    )
    # No partial file left beside it.
    assert sorted(path.name for path in final.parent.iterdir()) == [demo_site.LARGE_FILE]


def test_fingerprints_spider_shows_each_profiles_ja4_and_akamai_over_http2(demo: Demo) -> None:
    seen = {item["profile"]: item for item in demo.items if "profile" in item}
    lines = lines_of(demo, "fingerprints")
    assert sorted(seen) == sorted(PUBLISHED) and len(lines) == len(PUBLISHED)
    for profile, (ja4, akamai) in PUBLISHED.items():
        item = seen[profile]
        assert item["http_version"] == "HTTP/2"
        assert item["akamai"] == akamai
        if ja4 is not None:
            assert item["ja4"] == ja4
        (line,) = [line for line in lines if f"INFO: {profile}: " in line]
        assert f"the site saw JA4 {item['ja4']}, Akamai HTTP/2 {akamai} over HTTP/2" in line
    assert "Firefox/135.0" in seen["firefox_135"]["user_agent"]


def test_the_demo_log_holds_only_what_it_shows(demo: Demo) -> None:
    """Scrapy's own INFO lines are left out; the handler's start-up line is
    shown once, for the first crawl."""
    assert not [line for line in demo.log if "[scrapy." in line]
    assert sum("INFO: scrapy_tlsclient " in line for line in demo.log) == 1
    assert [line for line in demo.log if line.startswith("--- scrapy crawl ")] == [
        f"--- scrapy crawl {spider}" for spider in ("sse", "ndjson", "binaries", "fingerprints", "ticker")
    ]


def test_scrapy_fetch_and_shell_use_the_handler_outside_a_crawl() -> None:
    site, url = demo_site.start()
    try:
        fetch = subprocess.run(
            [sys.executable, "-m", "scrapy", "fetch", "--loglevel", "INFO", f"{url}/"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert fetch.returncode == 0, fetch.stderr[-3000:]
        assert "scrapy-tlsclient demo" in fetch.stdout
        assert "[scrapy_tlsclient] INFO: scrapy_tlsclient" in fetch.stderr  # the handler's start line
        shell = subprocess.run(
            [
                sys.executable,
                "-m",
                "scrapy",
                "shell",
                "--nolog",
                "-c",
                "response.request.headers['User-Agent']",
                f"{url}/",
            ],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert shell.returncode == 0, shell.stderr[-3000:]
        assert "Chrome/150" in shell.stdout  # the middleware's browser headers
    finally:
        site.shutdown()
