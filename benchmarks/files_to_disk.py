"""A large file to disk: the handler's body_file path against curl -o.

    python benchmarks/files_to_disk.py [--mib 1024] [--server https|h2]

Starts the loopback test server, downloads the same unknown-length body
(``/live/bytes``) with ``curl -o`` and with a one-request Scrapy crawl
using ``body_file``, and prints the times, their ratio and the crawl's
peak RSS growth over its warm baseline. Targets: RSS growth <= 64 MiB,
time <= 1.5x curl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _testserver import test_server

CRAWL = """
import json, resource, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess

url, target = sys.argv[1], sys.argv[2]
out = {}

def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

class Spider(scrapy.Spider):
    name = "to-disk"

    async def start(self):
        yield scrapy.Request(url.split("?")[0] + "?n=100000", callback=self.warm, dont_filter=True)

    def warm(self, response):
        out["baseline"] = rss()
        out["started"] = time.monotonic()
        yield scrapy.Request(url, meta={"body_file": target}, dont_filter=True)

    def parse(self, response):
        out["seconds"] = time.monotonic() - out["started"]

process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "DOWNLOAD_MAXSIZE": 0, "DOWNLOAD_WARNSIZE": 0, "DOWNLOAD_TIMEOUT": 3600,
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
})
process.crawl(Spider)
process.start()
out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="body size in MiB")
    parser.add_argument("--server", choices=("https", "h2"), default="https")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("the benchmark compares with curl, which is not installed")
    size = args.mib * 1024 * 1024
    print("command: python benchmarks/files_to_disk.py " + shlex.join(sys.argv[1:]))
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}")
    with test_server() as urls, tempfile.TemporaryDirectory() as tmp:
        url = f"{urls[args.server]}/live/bytes?n={size}&chunk=65536"
        started = time.monotonic()
        http = ["--http2"] if args.server == "h2" else ["--http1.1"]
        subprocess.run([curl, "-sk", *http, "-o", f"{tmp}/curl.bin", url], check=True, timeout=3600)
        curl_seconds = time.monotonic() - started
        assert Path(tmp, "curl.bin").stat().st_size == size
        Path(tmp, "curl.bin").unlink()
        result = subprocess.run(
            [sys.executable, "-c", CRAWL, url, f"{tmp}/crawl.bin"],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
            cwd=tmp,
        )
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        if "seconds" not in figures:
            raise SystemExit(f"the crawl did not finish the download: {result.stderr[-3000:]}")
        assert Path(tmp, "crawl.bin").stat().st_size == size
    growth_mib = (figures["peak"] - figures["baseline"]) / 2**20
    ratio = figures["seconds"] / curl_seconds
    crawl_seconds = figures["seconds"]
    print(
        f"{args.mib} MiB over {args.server}: curl -o {curl_seconds:.2f} s, "
        f"body_file crawl {crawl_seconds:.2f} s"
    )
    print(f"time ratio {ratio:.2f}x curl (target <= 1.5x): {'met' if ratio <= 1.5 else 'MISSED'}")
    verdict = "met" if growth_mib <= 64 else "MISSED"
    print(f"crawl peak RSS growth {growth_mib:.1f} MiB (target <= 64 MiB): {verdict}")


if __name__ == "__main__":
    main()
