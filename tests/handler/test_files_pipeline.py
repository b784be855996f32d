"""TLSFilesPipeline through whole crawls: files go from the network to the
store without being held in memory, with FilesPipeline's behaviour."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from conftest import Servers, pattern, run_python

CRAWL = """
import json, resource, sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy_tlsclient import TLSFilesPipeline

base, store, mode = sys.argv[1], sys.argv[2], sys.argv[3]
sizes = [int(size) for size in sys.argv[4].split(",")]
items = []

def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

class EscapingPipeline(TLSFilesPipeline):
    def file_path(self, request, response=None, info=None, *, item=None):
        return request.url.split("name=", 1)[1]

class Spider(scrapy.Spider):
    name = "files"

    async def start(self):
        yield scrapy.Request(f"{base}/bytes?n=1000", callback=self.warm)

    def warm(self, response):
        items.append({"baseline_rss": rss()})
        for n, size in enumerate(sizes):
            urls = [f"{base}/bytes?n={size}&i={n}"]
            if mode == "escape":
                urls = [f"{base}/bytes?n=100&name={name}" for name in ("../outside.bin", "/tmp/absolute.bin",
                                                                      "link/through.bin", "ok/inside.bin")]
            yield {"file_urls": urls}

class Collect:
    def process_item(self, item):
        items.append(dict(item))
        return item

pipeline = "__main__.EscapingPipeline" if mode == "escape" else "scrapy_tlsclient.TLSFilesPipeline"
process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "ITEM_PIPELINES": {pipeline: 1, "__main__.Collect": 2},
    "FILES_STORE": store, "DOWNLOAD_MAXSIZE": 0, "DOWNLOAD_WARNSIZE": 0,
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
})
process.crawl(Spider)
process.start()
items.append({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
print(json.dumps(items))
"""


def crawl(servers: Servers, store: Path, mode: str, sizes: list[int]) -> list[dict[str, Any]]:
    result = run_python(CRAWL, servers.h2, str(store), mode, ",".join(map(str, sizes)), env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    items: list[dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return items


def stored_files(store: Path) -> list[str]:
    return sorted(str(path.relative_to(store)) for path in store.rglob("*") if path.is_file())


def test_files_are_stored_with_checksums_and_no_leftovers(servers: Servers, tmp_path: Path) -> None:
    store = tmp_path / "store"
    sizes = [1, 70_000, 3_000_000]
    items = crawl(servers, store, "store", sizes)
    results = sorted((file for item in items for file in item.get("files", [])), key=lambda f: f["url"])
    assert len(results) == 3
    for result in results:
        size = int(result["url"].split("n=")[1].split("&")[0])
        data = (store / result["path"]).read_bytes()
        assert data == pattern(size)
        assert result["checksum"] == hashlib.md5(data).hexdigest()
        assert result["status"] == "downloaded"
    # Nothing but the files themselves: the temporary files are gone.
    assert stored_files(store) == sorted(result["path"] for result in results)
    again = crawl(servers, store, "store", sizes)
    assert {file["status"] for item in again for file in item.get("files", [])} == {
        "uptodate"
    }  # FILES_EXPIRES


def test_a_large_file_never_sits_in_memory(servers: Servers, tmp_path: Path) -> None:
    size = 300 * 1024 * 1024
    items = crawl(servers, tmp_path / "store", "store", [size])
    growth_mib = (items[-1]["peak_rss"] - items[0]["baseline_rss"]) / 2**20
    print(f"300 MiB file through TLSFilesPipeline: peak RSS growth {growth_mib:.0f} MiB")
    (file,) = [file for item in items for file in item.get("files", [])]
    assert (tmp_path / "store" / file["path"]).stat().st_size == size
    assert growth_mib < 100  # FilesPipeline holds the file twice: 600 MiB


def test_file_paths_never_escape_the_store(servers: Servers, tmp_path: Path) -> None:
    store = tmp_path / "store"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    store.mkdir()
    (store / "link").symlink_to(outside, target_is_directory=True)
    items = crawl(servers, store, "escape", [1])
    results = [file for item in items for file in item.get("files", [])]
    assert [result["path"] for result in results] == ["ok/inside.bin"]  # the three others failed
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "outside.bin").exists()
    assert not Path("/tmp/absolute.bin").exists()
    assert stored_files(store) == ["ok/inside.bin"]
