"""TLSFilesPipeline through whole crawls: files go from the network to the
store without being held in memory, with FilesPipeline's behaviour, and a
file is either complete under its final name or absent."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Servers, pattern, pattern_digest, run_python

CRAWL = """
import json, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy_tlsclient import TLSFilesPipeline

config = json.loads(sys.argv[1])
items = []

def rss(field="VmRSS:"):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

class NamedPipeline(TLSFilesPipeline):
    # file_path() from the URL's name= parameter, to try escaping the store.
    def file_path(self, request, response=None, info=None, *, item=None):
        return request.url.split("name=", 1)[1]

class Spider(scrapy.Spider):
    name = "files"

    async def start(self):
        yield scrapy.Request(config["warm"], callback=self.warm)

    def warm(self, response):
        items.append({"baseline_rss": rss()})
        if config.get("stop_after"):
            from twisted.internet import reactor
            reactor.callLater(config["stop_after"], stop)
        yield {"file_urls": config["urls"]}

class Collect:
    def process_item(self, item):
        items.append(dict(item))
        return item

def stop():
    # Ctrl-C twice: a graceful stop (which waits for the download), then a
    # forced one.
    from twisted.internet import reactor
    process.stop()
    reactor.stop()

process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "ITEM_PIPELINES": {config["pipeline"]: 1, "__main__.Collect": 2},
    "FILES_STORE": config["store"], "DOWNLOAD_WARNSIZE": 0,
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
    **config.get("settings", {}),
})
process.crawl(Spider)
process.start()
# VmHWM, not ru_maxrss: across (v)fork + exec, ru_maxrss keeps the peak of
# the parent (the test runner, which earlier tests may have grown).
items.append({"peak_rss": rss("VmHWM:")})
print(json.dumps(items))
"""

PIPELINE = "scrapy_tlsclient.TLSFilesPipeline"
MIB = 1024 * 1024


def crawl(servers: Servers, store: Path, urls: list[str], **config: Any) -> list[dict[str, Any]]:
    config = {
        "warm": f"{servers.h2}/bytes?n=1000",
        "store": str(store),
        "urls": urls,
        "pipeline": PIPELINE,
        **config,
    }
    result = run_python(CRAWL, json.dumps(config), env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    items: list[dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return items


def files_of(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [file for item in items for file in item.get("files", [])]


def stored_files(store: Path) -> list[str]:
    """Every file under the store, temporary ones included."""
    return sorted(str(path.relative_to(store)) for path in store.rglob("*") if path.is_file())


@pytest.mark.slow
def test_three_files_stored_exactly_in_bounded_memory(servers: Servers, tmp_path: Path) -> None:
    store = tmp_path / "store"
    sizes = [1024, 10 * MIB, 256 * MIB]
    items = crawl(servers, store, [f"{servers.h2}/live/bytes?n={size}" for size in sizes])
    growth_mib = (items[-1]["peak_rss"] - items[0]["baseline_rss"]) / MIB
    print(f"1 KiB + 10 MiB + 256 MiB through TLSFilesPipeline: peak RSS growth {growth_mib:.0f} MiB")
    results = files_of(items)
    assert [int(r["url"].split("n=")[1]) for r in results] == sizes
    for result, size in zip(results, sizes, strict=True):
        path = store / result["path"]
        assert path.stat().st_size == size
        assert result["checksum"] == pattern_digest(size, "md5")
        assert hashlib.md5(path.read_bytes()).hexdigest() == result["checksum"]
        assert result["status"] == "downloaded"
    assert (store / results[0]["path"]).read_bytes() == pattern(1024)
    assert stored_files(store) == sorted(r["path"] for r in results)  # no temporary file left
    assert growth_mib < 64  # FilesPipeline would hold the 256 MiB file twice
    again = crawl(servers, store, [f"{servers.h2}/live/bytes?n=1024"])
    assert [file["status"] for file in files_of(again)] == ["uptodate"]  # FILES_EXPIRES


def test_a_cut_download_is_retried_from_scratch(servers: Servers, tmp_path: Path) -> None:
    store = tmp_path / "store"
    url = f"{servers.h2}/live/flaky?id=files-{time.monotonic_ns()}&n={5 * MIB}&fail_first=1"
    (result,) = files_of(crawl(servers, store, [url]))
    assert (store / result["path"]).read_bytes() == pattern(5 * MIB)
    assert stored_files(store) == [result["path"]]


@pytest.mark.parametrize(
    ("path", "config"),
    [
        # The server always cuts it: every retry fails.
        (f"/live/flaky?id=always&n={2 * MIB}&fail_first=1000", {}),
        ("/live/bytes?n=3000000", {"settings": {"DOWNLOAD_MAXSIZE": 1000000}}),
        # The crawler is forced to stop while the body is still arriving.
        ("/slowbody?delay_ms=20000", {"stop_after": 1.0}),
    ],
    ids=["always-cut", "maxsize", "stopped"],
)
def test_failed_files_leave_nothing(
    servers: Servers, tmp_path: Path, path: str, config: dict[str, Any]
) -> None:
    store = tmp_path / "store"
    items = crawl(servers, store, [f"{servers.h2}{path}"], **config)
    assert files_of(items) == []
    assert stored_files(store) == []


def test_file_paths_never_escape_the_store(servers: Servers, tmp_path: Path) -> None:
    store = tmp_path / "store"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    store.mkdir()
    (store / "link").symlink_to(outside, target_is_directory=True)
    names = ["../outside.bin", "/tmp/absolute.bin", "link/through.bin", "ok/inside.bin"]
    urls = [f"{servers.h2}/bytes?n=100&name={name}" for name in names]
    items = crawl(servers, store, urls, pipeline="__main__.NamedPipeline")
    assert [result["path"] for result in files_of(items)] == ["ok/inside.bin"]  # the three others failed
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "outside.bin").exists()
    assert not Path("/tmp/absolute.bin").exists()
    assert stored_files(store) == ["ok/inside.bin"]
