"""Start the local demo site and run the example spiders against it:

    python run_demo.py           # all four below, one after the other

    python run_demo.py sse       # one item per Server-Sent Event
    python run_demo.py ndjson    # one item per NDJSON line
    python run_demo.py binaries  # files stored in ./downloads by TLSFilesPipeline
    python run_demo.py fingerprints  # the JA4 the site saw for three browser profiles

Items go to stdout as JSON lines (``-o -:jsonl``). Needs no internet.
"""

from __future__ import annotations

import os
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
}


def main() -> int:
    choice = sys.argv[1] if len(sys.argv) > 1 else "all"
    if choice != "all" and choice not in FEEDS:
        print(f"usage: python run_demo.py [all|{'|'.join(FEEDS)}]", file=sys.stderr)
        return 2
    site, url = demo_site.start()
    try:
        for spider in FEEDS if choice == "all" else [choice]:
            if choice == "all":
                print(f"--- scrapy crawl {spider}", file=sys.stderr, flush=True)
            code = crawl(spider, url)
            if code != 0:
                return code
        return 0
    finally:
        site.shutdown()


def crawl(spider: str, url: str) -> int:
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        spider,
        "-a",
        f"url={url}{FEEDS[spider]}",
        "-a",
        "limit=20",
    ]
    # Items as JSON lines on stdout; INFO for the fingerprints spider's
    # "the site saw JA4 ..." lines, warnings only for the others.
    level = "INFO" if spider == "fingerprints" else "WARNING"
    command += ["-o", "-:jsonl", "-s", f"LOG_LEVEL={level}"]
    if store := os.environ.get("DEMO_FILES_STORE"):  # where the binaries go (default ./downloads)
        command += ["-s", f"FILES_STORE={store}"]
    return subprocess.run(command, cwd=Path(__file__).parent, check=False, timeout=300).returncode


if __name__ == "__main__":
    sys.exit(main())
