"""Start the local demo site and run one example spider against it:

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
    spider = sys.argv[1] if len(sys.argv) > 1 else "sse"
    if spider not in FEEDS:
        print(f"usage: python run_demo.py {{{'|'.join(FEEDS)}}}", file=sys.stderr)
        return 2
    site, url = demo_site.start()
    try:
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
        command += ["-o", "-:jsonl", "-s", "LOG_LEVEL=WARNING"]
        if store := os.environ.get("DEMO_FILES_STORE"):  # where the binaries go (default ./downloads)
            command += ["-s", f"FILES_STORE={store}"]
        return subprocess.run(command, cwd=Path(__file__).parent, check=False, timeout=300).returncode
    finally:
        site.shutdown()


if __name__ == "__main__":
    sys.exit(main())
