"""WebSocket message latency and throughput: scrapy-tlsclient's WebSockets vs
the ``websockets`` package, in the same run.

    python benchmarks/websocket_latency.py --seconds 5

Starts the loopback test server once; its ``/ws/ticks`` endpoint (over
TLS, HTTP/1.1) sends ``rate`` text messages a second on a fixed schedule,
each carrying ``sent_ns``, the server's wall-clock time when it writes the
message. Server and clients run on the same machine, so a message's
latency is the client's ``time.time_ns()`` when its loop gets the message
minus ``sent_ns``, on one clock.

Configurations: 100 messages/s over 1 socket and over 100 sockets, and
20,000 messages/s over 1 socket. Each runs twice, each time in a fresh
subprocess:

* ``tlsclient``: a Scrapy crawl (asyncio reactor) of ``wss://`` requests to
  the endpoint through ``TLSClientDownloadHandler``; "received" is when
  the callback's ``async for message in websocket_of(response)`` yields.
* ``websockets``: the ``websockets`` package's asyncio client (verification
  off, no compression offered), ``async for message in connection``.

Messages of the first ``--warmup`` seconds of each socket are not counted.
The table shows the messages received, the rate the client kept
(messages of the measured window per second of it), p50/p99/max
latency, and for tlsclient the p50 difference from websockets at the same
configuration (target: within 0.5 ms at 100 messages/s).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from array import array
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _crawl import crawl
from _report import command, machine, version

from _testserver import test_server

CONFIGS = [(100, 1), (100, 100), (20_000, 1)]  # (messages/s per socket, sockets)
P50_DIFF_TARGET_MS = 0.5


def wss(base: str) -> str:
    return "wss" + base[base.index(":") :]


def summarize(arrivals: list[tuple[array[int], list[str]]], warmup_s: float) -> dict[str, Any]:
    """Latencies (µs) and the kept rate over the measured window."""
    latencies: list[int] = []
    received = 0
    window_ns = 0
    for times, data in arrivals:
        received += len(times)
        sent = [json.loads(text)["sent_ns"] for text in data]
        if not sent:
            continue
        start = sent[0] + int(warmup_s * 1e9)
        kept = [(t, s) for t, s in zip(times, sent, strict=True) if s >= start]
        latencies.extend((t - s) // 1000 for t, s in kept)
        if kept:
            window_ns = max(window_ns, kept[-1][1] - start)
    latencies.sort()
    return {
        "received": received,
        "measured": len(latencies),
        "rate": len(latencies) / (window_ns / 1e9) / max(1, len(arrivals)) if window_ns else 0.0,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] / 1000 if latencies else math.nan,
    }


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted microseconds, in ms."""
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] / 1000


# --- children ----------------------------------------------------------------


def run_tlsclient(config: dict[str, Any]) -> dict[str, Any]:
    from scrapy import Request, Spider
    from scrapy.http import Response

    from scrapy_tlsclient import websocket_of

    class TicksSpider(Spider):
        name = "websocket_latency"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.arrivals: list[tuple[array[int], list[str]]] = []

        async def start(self) -> AsyncIterator[Request]:
            for url in config["urls"]:
                yield Request(url, dont_filter=True)

        async def parse(self, response: Response) -> None:
            times: array[int] = array("q")
            data: list[str] = []
            self.arrivals.append((times, data))
            async for message in websocket_of(response):
                times.append(time.time_ns())
                data.append(message.text)

    handler = "scrapy_tlsclient.TLSClientDownloadHandler"
    sockets = len(config["urls"])
    settings = {
        "DOWNLOAD_HANDLERS": {"ws": handler, "wss": handler},
        "CONCURRENT_REQUESTS": max(16, sockets),
        "CONCURRENT_REQUESTS_PER_DOMAIN": max(16, sockets),
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    spider = crawl(TicksSpider, settings)
    return summarize(spider.arrivals, config["warmup"])


def run_websockets(config: dict[str, Any]) -> dict[str, Any]:
    import asyncio
    import ssl

    import websockets

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def read(url: str) -> tuple[array[int], list[str]]:
        times: array[int] = array("q")
        data: list[str] = []
        async with websockets.connect(url, ssl=context, compression=None, max_size=None) as connection:
            async for message in connection:
                times.append(time.time_ns())
                data.append(str(message))
        return times, data

    async def main() -> list[tuple[array[int], list[str]]]:
        return list(await asyncio.gather(*(read(url) for url in config["urls"])))

    return summarize(asyncio.run(main()), config["warmup"])


# --- parent ------------------------------------------------------------------


def run(client: str, config: dict[str, Any], limit_s: float) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({**config, "client": client})],
        capture_output=True,
        text=True,
        timeout=limit_s,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{client} failed:\n{result.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5, help="how long each socket receives")
    parser.add_argument(
        "--warmup", type=float, default=0.5, help="seconds not counted at each socket's start"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config = json.loads(args.child)
        runner = run_tlsclient if config["client"] == "tlsclient" else run_websockets
        print(json.dumps(runner(config)))
        return
    print(command())
    print(machine() + f"; websockets {version('websockets')}")
    print(
        f"{'rate/s x sockets':>17} {'client':>10} {'received':>9} {'kept/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p50 diff':>9}"
    )
    with test_server() as urls:
        base = wss(urls["https"])
        for rate, sockets in CONFIGS:
            config = {
                "urls": [f"{base}/ws/ticks?rate={rate}&seconds={args.seconds}&k={k}" for k in range(sockets)],
                "warmup": args.warmup,
            }
            results = {
                client: run(client, config, args.seconds + 120) for client in ("websockets", "tlsclient")
            }
            for client, r in results.items():
                diff = ""
                if client == "tlsclient":
                    diff = f"{r['p50'] - results['websockets']['p50']:+.2f}"
                print(
                    f"{f'{rate} x {sockets}':>17} {client:>10} {r['received']:>9} {r['rate']:>8.0f} "
                    f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['max']:>7.2f} {diff:>9}"
                )
    print(f"target: tlsclient p50 within {P50_DIFF_TARGET_MS} ms of websockets at 100/s; 20,000/s kept")


if __name__ == "__main__":
    main()
