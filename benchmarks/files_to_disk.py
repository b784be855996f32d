"""A large file to disk: the handler's body_file path against curl -o.

    python benchmarks/files_to_disk.py [--mib 1024] [--server https|h2] [--repeat 3] [--json PATH]

Starts the loopback test server, downloads the same unknown-length body
(``/live/bytes``) with ``curl -o`` and with a one-request Scrapy crawl
using ``body_file``, and prints the times, their ratio and the crawl's
peak RSS growth over its warm baseline. With --repeat N the two alternate
N times and the medians are compared (the loopback server shares the CPUs
with both clients, so single runs are noisy). Targets: RSS growth <= 64
MiB, time <= 1.5x curl. ``--json PATH`` also writes the figures, with the
command, the machine, the date and every run, to PATH as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _process import run_child_env
from _testserver import test_server

TIME_TARGET = 1.5  # at most this many times curl's time
RSS_TARGET_MIB = 64  # at most this much peak RSS growth

CRAWL = """
import json, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess

url, target = sys.argv[1], sys.argv[2]
out = {}

from _process import proc_status

def rss(field="VmRSS:"):
    return proc_status(field) * 1024

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
# VmHWM, not ru_maxrss: across (v)fork + exec, ru_maxrss keeps the parent's peak.
out["peak"] = rss("VmHWM:")
print(json.dumps(out))
"""


def crawl_once(url: str, tmp: Path, size: int) -> dict[str, float]:
    target = tmp / "crawl.bin"
    result = subprocess.run(
        [sys.executable, "-c", CRAWL, url, str(target)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        cwd=tmp,
        env=run_child_env(),
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    if "seconds" not in figures:
        raise SystemExit(f"the crawl did not finish the download: {result.stderr[-3000:]}")
    assert target.stat().st_size == size
    target.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="body size in MiB")
    parser.add_argument("--server", choices=("https", "h2"), default="https")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each")
    parser.add_argument("--json", metavar="PATH", help="also write the figures and runs here as JSON")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("the benchmark compares with curl, which is not installed")
    size = args.mib * 1024 * 1024
    command = "python benchmarks/files_to_disk.py " + shlex.join(sys.argv[1:])
    machine = f"{os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}"
    print(f"command: {command}")
    print(f"machine: {machine}")
    curl_times: list[float] = []
    crawls: list[dict[str, float]] = []
    with test_server() as urls, tempfile.TemporaryDirectory() as tmp:
        url = f"{urls[args.server]}/live/bytes?n={size}&chunk=65536"
        http = ["--http2"] if args.server == "h2" else ["--http1.1"]
        for _ in range(args.repeat):
            started = time.monotonic()
            subprocess.run([curl, "-sk", *http, "-o", f"{tmp}/curl.bin", url], check=True, timeout=3600)
            curl_times.append(time.monotonic() - started)
            assert Path(tmp, "curl.bin").stat().st_size == size
            Path(tmp, "curl.bin").unlink()
            crawls.append(crawl_once(url, Path(tmp), size))
    curl_seconds = statistics.median(curl_times)
    crawl_seconds = statistics.median(c["seconds"] for c in crawls)
    growth_mib = max(c["peak"] - c["baseline"] for c in crawls) / 2**20
    ratio = crawl_seconds / curl_seconds
    runs = ", ".join(f"{a:.2f}/{c['seconds']:.2f}" for a, c in zip(curl_times, crawls, strict=True))
    print(f"runs (curl/crawl s): {runs}")
    print(
        f"{args.mib} MiB over {args.server}: curl -o {curl_seconds:.2f} s, "
        f"body_file crawl {crawl_seconds:.2f} s (medians of {args.repeat})"
    )
    time_verdict = "met" if ratio <= TIME_TARGET else "MISSED"
    print(f"time ratio {ratio:.2f}x curl (target <= {TIME_TARGET:g}x): {time_verdict}")
    verdict = "met" if growth_mib <= RSS_TARGET_MIB else "MISSED"
    print(f"crawl peak RSS growth {growth_mib:.1f} MiB (target <= {RSS_TARGET_MIB} MiB): {verdict}")
    if args.json:
        report = {
            "benchmark": "files_to_disk",
            "command": command,
            "machine": machine,
            "cpus": os.cpu_count(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mib": args.mib,
            "server": args.server,
            "repeat": args.repeat,
            "targets": {"time_ratio_max": TIME_TARGET, "rss_growth_mib_max": RSS_TARGET_MIB},
            "curl_s": curl_seconds,
            "crawl_s": crawl_seconds,
            "time_ratio": ratio,
            "time_target": time_verdict,
            "rss_growth_mib": growth_mib,
            "rss_target": verdict,
            # each crawl: its seconds, monotonic start, RSS baseline and peak (bytes)
            "runs": [{"curl_s": a, "crawl": c} for a, c in zip(curl_times, crawls, strict=True)],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
