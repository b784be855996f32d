"""Start the local demo site and run the example spiders against it:

    python run_demo.py           # all five below, one after the other

    python run_demo.py sse       # one item per Server-Sent Event, with its arrival time
    python run_demo.py ndjson    # one item per NDJSON line, with its arrival time
    python run_demo.py binaries  # small files through TLSFilesPipeline, a 256 MiB
                                 # file with progress lines and its SHA-256
    python run_demo.py fingerprints  # the JA4 and Akamai HTTP/2 fingerprints the
                                     # site saw for three browser profiles
    python run_demo.py ticker    # one item per WebSocket message, with its arrival time

Items go to stdout as JSON lines (``-o -:jsonl``). On stderr, the lines of
the crawl's log that show what the project does (scrapy_tlsclient's and the
spiders', and any warning or error); ``scrapy crawl`` run by hand prints the
whole log. Needs no internet.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import demo_site

# The SSE feed ends after 10 events; the spider reconnects with Last-Event-ID
# and stops at 20, as a client of an endless feed would.
FEEDS = {
    "sse": "/sse?events=10&interval_ms=50",
    "ndjson": "/ndjson?lines=20&interval_ms=50",
    "binaries": "/files/",
    "fingerprints": "/fingerprint",
    "ticker": "/ws/ticker?messages=20&interval_ms=50",
}
#: The head of a log record: date, time, logger, level.
RECORD = re.compile(r"^\d{4}-\d\d-\d\d (?P<time>\d\d:\d\d:\d\d) \[(?P<logger>[^\]]+)\] (?P<level>[A-Z]+): ")
#: The handler's start-up line (library, version, profile): shown for the first crawl only.
START_UP = re.compile(r"\[scrapy_tlsclient\] INFO: scrapy_tlsclient \S+: native library")


def main() -> int:
    choice = sys.argv[1] if len(sys.argv) > 1 else "all"
    if choice != "all" and choice not in FEEDS:
        print(f"usage: python run_demo.py [all|{'|'.join(FEEDS)}]", file=sys.stderr)
        return 2
    site, url = demo_site.start()
    print(f"demo site at {url} (HTTP/2 and HTTP/1.1)", file=sys.stderr, flush=True)
    try:
        for n, spider in enumerate(FEEDS if choice == "all" else [choice]):
            print(f"--- scrapy crawl {spider}", file=sys.stderr, flush=True)
            code = crawl(spider, url, show_start_up=n == 0)
            if code != 0:
                return code
        return 0
    finally:
        site.shutdown()


def crawl(spider: str, url: str, *, show_start_up: bool) -> int:
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        spider,
        "-a",
        f"url={'wss' + url[len('https') :] if spider == 'ticker' else url}{FEEDS[spider]}",
        "-a",
        "limit=20",
        "-o",
        "-:jsonl",
        "-s",
        "LOG_LEVEL=INFO",
    ]
    if store := os.environ.get("DEMO_FILES_STORE"):  # where the binaries go (default ./downloads)
        command += ["-s", f"FILES_STORE={store}"]
    with subprocess.Popen(
        command, cwd=Path(__file__).parent, stderr=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        assert process.stderr is not None
        shown = False
        for line in process.stderr:
            if head := RECORD.match(line):
                shown = wanted(head["logger"], head["level"]) and (show_start_up or not START_UP.search(line))
                line = line[len("YYYY-MM-DD ") :]
            if shown:
                sys.stderr.write(line)
                sys.stderr.flush()
        return process.wait(timeout=300)


def wanted(logger: str, level: str) -> bool:
    """Whether a log record shows what the demo is about: scrapy_tlsclient's
    and the spiders' lines, and warnings and errors from anyone."""
    return level not in ("DEBUG", "INFO") or not logger.startswith(("scrapy.", "asyncio", "py.warnings"))


if __name__ == "__main__":
    sys.exit(main())
