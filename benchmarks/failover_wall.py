"""The bot-wall crawl of tests/handler/test_failover_wall.py, with figures.

    python benchmarks/failover_wall.py

Starts the Go test server, learns what each identity of the pool presents
to its wall, blocks Firefox's JA4 and Safari's header order outright and
every identity after 150 requests a minute, then crawls the same 500 pages
with FailoverMiddleware and without it (the same retry budget), and prints
for each: pages fetched, requests the wall saw, its blocks by rule,
requests whose TLS fingerprint, User-Agent and client hints were not one
identity's, the identities pages passed as, and the identity changes logged.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT / "tests" / "handler")]

from test_failover_wall import PAGES, calibrate, crawl_the_wall, wall_rules  # noqa: E402

from _testserver import test_server  # noqa: E402


def main() -> None:
    with test_server() as urls:
        servers = SimpleNamespace(wall=urls["wall"])
        rules = wall_rules(calibrate(servers))  # type: ignore[arg-type]
        for failover in (True, False):
            start = time.monotonic()
            result, log = crawl_the_wall(servers, rules, failover=failover)  # type: ignore[arg-type]
            took = time.monotonic() - start
            blocks = Counter(entry["block"] for entry in log if entry["block"])
            print(f"{'with' if failover else 'without'} FailoverMiddleware ({took:.1f} s with process start)")
            print(f"  pages fetched: {len(result['ok'])} of {PAGES}; failed: {len(result['errors'])}")
            print(f"  requests the wall saw: {len(log)}; blocked: {dict(blocks)}")
            print(f"  requests mixing two identities: {sum(not entry['coherent'] for entry in log)}")
            print(f"  passed as: {dict(Counter(identity for _, _, identity in result['ok']))}")
            for _, message in result["log"]:
                if "Site localhost: identity" in message:
                    print(f"  {message}")


if __name__ == "__main__":
    main()
