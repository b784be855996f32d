"""Throughput and RSS of large bodies: readStream vs one buffered request.

    python benchmarks/native_stream.py --mib 200

Streams ``--mib`` MiB through requestStream/readStream with several
``maxBytes`` values, then fetches a smaller body with a buffered
``request``, printing MiB/s and the process RSS growth for each.
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--buffered-mib", type=int, default=50)
    parser.add_argument("--server", choices=("http", "https", "h2"), default="h2")
    args = parser.parse_args()
    library = get_library()
    with test_server() as urls:
        base = {
            "requestMethod": "GET",
            "isByteResponse": True,
            "rawBody": True,
            "insecureSkipVerify": True,
            "sessionId": "stream-benchmark",
            "timeoutMilliseconds": -1,
        }
        size = args.mib * 2**20
        print(f"{args.mib} MiB over {args.server}")
        print(f"{'mode':<28} {'MiB/s':>8} {'RSS growth MiB':>15}")
        for max_bytes in (64 * 1024, 256 * 1024, 1024 * 1024):
            start_rss = peak = rss_mib()
            stream = library.request_stream(dict(base, requestUrl=f"{urls[args.server]}/bytes?n={size}"))
            assert stream.stream_id is not None
            received = 0
            started = time.perf_counter()
            while True:
                read = library.read_stream(stream.stream_id, timeout_ms=5000, max_bytes=max_bytes)
                if read.eof:
                    break
                received += len(read.chunk)
                peak = max(peak, rss_mib())
            elapsed = time.perf_counter() - started
            assert received == size
            print(
                f"{f'readStream maxBytes={max_bytes // 1024} KiB':<28} {args.mib / elapsed:>8.0f} "
                f"{peak - start_rss:>15.1f}"
            )
        start_rss = rss_mib()
        started = time.perf_counter()
        url = f"{urls[args.server]}/bytes?n={args.buffered_mib * 2**20}"
        response = library.request(dict(base, requestUrl=url))
        elapsed = time.perf_counter() - started
        peak = rss_mib()
        assert len(response.body) == args.buffered_mib * 2**20
        del response
        print(
            f"{f'request() {args.buffered_mib} MiB buffered':<28} {args.buffered_mib / elapsed:>8.0f} "
            f"{peak - start_rss:>15.1f}"
        )


if __name__ == "__main__":
    main()
