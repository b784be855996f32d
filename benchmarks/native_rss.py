"""RSS over many native calls: is memory flat after warm-up?

    python benchmarks/native_rss.py --calls 20000 --size 10240

Runs ``--calls`` requests (10 KiB bodies by default, byte mode, one reused
session) through the binding against the loopback test server and prints
the process RSS (Python and Go share the process) at checkpoints, the
growth after warm-up, throughput and the library's live counters.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scrapy_tlsclient.binding import get_library

from _process import rss_mib
from _testserver import test_server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--size", type=int, default=10240, help="body bytes per call")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--server", choices=("http", "https", "h2"), default="http")
    args = parser.parse_args()

    library = get_library()
    with test_server() as urls:
        url = f"{urls[args.server]}/bytes?n={args.size}"
        request = {
            "requestUrl": url,
            "requestMethod": "GET",
            "isByteResponse": True,
            "rawBody": True,
            "insecureSkipVerify": True,
            "sessionId": "rss-benchmark",
        }
        checkpoints = sorted({args.warmup, *(args.calls * k // 4 for k in range(1, 5))})
        print(
            f"{args.calls} calls of {args.size} bytes over {args.server}; library {library.info.version} "
            f"(tls-client {library.info.tls_client_version}, {library.info.go_version})"
        )
        print(f"{'calls':>8} {'RSS MiB':>9}")
        print(f"{0:>8} {rss_mib():>9.1f}")
        warm_rss = None
        started = time.perf_counter()
        for done in range(1, args.calls + 1):
            response = library.request(request)  # type: ignore[arg-type]
            if len(response.body) != args.size:
                raise SystemExit(f"call {done}: {len(response.body)} bytes")
            if done in checkpoints:
                rss = rss_mib()
                if done == args.warmup:
                    warm_rss = rss
                print(f"{done:>8} {rss:>9.1f}")
        elapsed = time.perf_counter() - started
    assert warm_rss is not None
    final = rss_mib()
    print(f"growth after warm-up ({args.warmup} calls): {final - warm_rss:+.1f} MiB")
    print(f"throughput: {args.calls / elapsed:,.0f} calls/s on one thread")
    print(f"outstanding native buffers: {library.outstanding_buffers()}; stats: {library.stats()}")


if __name__ == "__main__":
    main()
