"""Resuming through whole crawls: Scrapy's RetryMiddleware drives the
retries, TLSFilesPipeline stores the file, and with JOBDIR a crawl killed
mid-download is resumed by the next one."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from conftest import Servers, pattern

MIB = 1 << 20

CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

config = json.loads(sys.argv[1])
out = {"items": []}

class Spider(scrapy.Spider):
    name = "resume"

    async def start(self):
        if config.get("body_file"):
            # dont_filter: with JOBDIR a request seen by a killed run is
            # otherwise filtered as a duplicate.
            meta = {"body_file": config["body_file"]}
            if config.get("proxy"):
                meta["proxy"] = config["proxy"]
            yield scrapy.Request(config["url"], meta=meta, dont_filter=True, callback=self.stored)
        else:
            yield {"file_urls": [config["url"]]}

    def stored(self, response):
        out["items"].append({
            "status": response.status,
            "flags": response.flags,
            "attempts": response.meta.get("tls_client_body_file_attempts"),
            "resumed_bytes": response.meta.get("tls_client_body_file_resumed_bytes"),
        })

class Collect:
    def process_item(self, item):
        out["items"].append(dict(item))
        return item

process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {
        "http": "scrapy_tlsclient.TLSClientDownloadHandler",
        "https": "scrapy_tlsclient.TLSClientDownloadHandler",
    },
    "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
    "ITEM_PIPELINES": {"scrapy_tlsclient.TLSFilesPipeline": 1, "__main__.Collect": 2},
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "RETRY_TIMES": 5,
    **config.get("settings", {}),
})
crawler = process.create_crawler(Spider)
process.crawl(crawler)
process.start()
stats = crawler.stats.get_stats()
out["stats"] = {k: v for k, v in stats.items() if k.startswith(("tls_client/body", "retry"))}
print(json.dumps(out, default=str))
"""


def version_bytes(n: int) -> bytes:
    return pattern(n)


def ranges_log(servers: Servers, key: str) -> dict[str, Any]:
    with urlopen(f"{servers.http}/ranges/log?key={key}", timeout=10) as answer:
        log: dict[str, Any] = json.load(answer)
    return log


def crawl_command(config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-c", CRAWL, json.dumps(config)]


def crawl(config: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        crawl_command(config),
        cwd=tempfile.gettempdir(),
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    out["log"] = result.stderr
    return out


def test_files_pipeline_resumes_through_retry_middleware(servers: Servers, tmp_path: Path) -> None:
    n = 16 * MIB
    key = f"pipeline-{time.monotonic_ns()}"
    store = tmp_path / "store"
    out = crawl(
        {
            # 16 MiB/s: a second or more, for the progress lines.
            "url": f"{servers.h2}/ranges?key={key}&n={n}&cuts=3&seed=11&rate={16 * MIB}",
            "settings": {
                "FILES_STORE": str(store),
                "LOG_LEVEL": "INFO",
                "TLS_CLIENT_PROGRESS_INTERVAL": 0.2,
            },
        }
    )
    (item,) = out["items"]
    (result,) = item["files"]
    stored = store / result["path"]
    assert hashlib.md5(stored.read_bytes()).hexdigest() == result["checksum"]
    assert stored.read_bytes() == version_bytes(n)
    assert result["attempts"] == 4 and result["resumed_bytes"] > 0
    log = ranges_log(servers, key)
    assert log["sent"] < 1.1 * n
    assert [r["status"] for r in log["requests"]] == [200, 206, 206, 206]
    # The browser's Accept-Encoding on every request, ranged ones included.
    encodings = {r["accept_encoding"] for r in log["requests"]}
    assert len(encodings) == 1 and "gzip" in encodings.pop()
    assert out["stats"]["tls_client/body_file/resumed"] == 3
    assert out["stats"]["tls_client/body_file/kept"] == 3
    assert out["stats"]["retry/count"] == 3
    # Progress lines name the file in the store, not its temporary name.
    progress = [line for line in out["log"].splitlines() if "Downloading https://" in line]
    assert progress and all(f" to {stored}: " in line for line in progress)
    # Nothing left but the stored file.
    assert sorted(p.name for p in store.rglob("*") if p.is_file()) == [stored.name]


@pytest.mark.parametrize("route", ["h2", "https-proxy", "pipeline-h2"])
def test_a_crawl_killed_at_half_resumes_with_jobdir(servers: Servers, tmp_path: Path, route: str) -> None:
    n = 64 * MIB
    key = f"killed-{time.monotonic_ns()}"
    files = tmp_path / "files"
    files.mkdir()
    target = files / "image.iso"
    pipeline = route.startswith("pipeline")
    config: dict[str, Any] = {
        # 32 MiB/s: two seconds to the file's end, time enough to kill at half.
        "url": f"{servers.https if 'https' in route else servers.h2}/ranges?key={key}&n={n}&rate={32 * MIB}",
        "proxy": servers.proxy if route.endswith("-proxy") else None,
        # HttpCompressionMiddleware off, as Scrapy's body_file support is to
        # leave such requests alone: the browser's Accept-Encoding stays.
        "settings": {"JOBDIR": str(tmp_path / "job"), "HTTPCOMPRESSION_ENABLED": False},
    }
    if pipeline:
        config["settings"]["FILES_STORE"] = str(files)
        # The pipeline's temporary files, named by request under JOBDIR.
        partials_in = files / ".tlsclient-partial"
    else:
        config["body_file"] = str(target)
        partials_in = files
    records = tmp_path / "job" / "tls_client_resume"
    process = subprocess.Popen(
        crawl_command(config),
        cwd=tempfile.gettempdir(),
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        kept = 0
        while kept < n // 2:
            assert process.poll() is None, process.stderr.read().decode()[-3000:] if process.stderr else ""
            assert time.monotonic() < deadline
            partials = [p for p in partials_in.glob(".*.resume-*")] if partials_in.exists() else []
            kept = partials[0].stat().st_size if partials else 0
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    (partial,) = [p for p in partials_in.iterdir() if p.is_file()]
    kept = partial.stat().st_size
    assert n // 2 <= kept < n
    assert len(list(records.iterdir())) == 1

    out = crawl(config)
    (item,) = out["items"]
    if pipeline:
        (result,) = item["files"]
        stored = files / result["path"]
        assert stored.read_bytes() == version_bytes(n)
        assert result["attempts"] == 2 and result["resumed_bytes"] == kept
        assert sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()) == [result["path"]]
    else:
        assert target.read_bytes() == version_bytes(n)
        assert [p.name for p in files.iterdir()] == ["image.iso"]
        assert item["status"] == 200 and "resumed" in item["flags"]
        assert item["attempts"] == 2 and item["resumed_bytes"] == kept
    assert list(records.iterdir()) == []
    first, second = ranges_log(servers, key)["requests"]
    assert second["range"] == f"bytes={kept}-" and second["if_range"] == '"v0"'
    assert second["status"] == 206
    assert first["accept_encoding"] == second["accept_encoding"] and "gzip" in first["accept_encoding"]
    assert out["stats"]["tls_client/body_file/resumed"] == 1
