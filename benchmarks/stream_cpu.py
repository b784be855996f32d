"""CPU per streamed event: scrapy-tlsclient's ``stream_of().ndjson()`` vs Scrapy's HTTP11 handler.

    python benchmarks/stream_cpu.py --rate 20000 --seconds 10

Starts the loopback test server once; its ``/live/ndjson`` endpoint sends
``--rate`` lines per second (each a JSON object with the server's send time,
``sent_ns``, written and flushed on its own) for ``--seconds``. Each
configuration reads that one stream in a Scrapy crawl of its own, in a fresh
subprocess, ``--rounds`` times, alternating:

* ``tlsclient``: ``scrapy_tlsclient.TLSClientDownloadHandler``, a request with
  ``tls_client_stream``, the callback's ``async for`` over
  ``stream_of(response).ndjson()``;
* ``http11``: Scrapy's default handler, which has no streaming API: the
  ``bytes_received`` signal hands over each piece as it arrives, and the
  spider splits the pieces into lines and ``json.loads`` each, as
  ``ndjson()`` does;
* ``before`` (with ``--before DIR``): ``tlsclient`` run from an older
  checkout, ``DIR`` holding its ``scrapy_tlsclient`` package with its built
  library (``PYTHONPATH=DIR``): the code before a change, in the same run.

Both read the HTTP/1.1 over TLS server (HTTP11 speaks nothing else). The
child measures its own CPU time (user + system, ``getrusage``) from the
first line to the last, and each line's latency (its arrival minus
``sent_ns``, one clock). The table gives the median over rounds of the CPU
microseconds per line, its ratio to http11's, the share of one core, and
the latency p50/p99/max of every line of every round. ``--json PATH`` also
writes the figures with the command, the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _crawl import crawl
from _report import command, machine

from _testserver import test_server

HANDLERS = {
    "tlsclient": "scrapy_tlsclient.TLSClientDownloadHandler",
    "http11": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
}


def child(spec: dict[str, Any]) -> None:
    """One crawl reading the stream; prints its figures as one JSON line."""
    import scrapy
    from scrapy import signals

    lines = spec["lines"]
    arrivals: list[int] = []
    sent: list[int] = []
    cpu: list[float] = []

    def mark(line: Any) -> None:
        now = time.time_ns()
        if not arrivals:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu.append(usage.ru_utime + usage.ru_stime)
        arrivals.append(now)
        sent.append(line["sent_ns"])
        if len(arrivals) == lines:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu.append(usage.ru_utime + usage.ru_stime)

    class NDJSONSpider(scrapy.Spider):
        name = "ndjson"

        async def start(self) -> Any:
            meta = {"tls_client_stream": True} if spec["handler"] != "http11" else {}
            yield scrapy.Request(spec["url"], meta=meta, dont_filter=True)

        @classmethod
        def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
            spider = super().from_crawler(crawler, *args, **kwargs)
            if spec["handler"] == "http11":
                crawler.signals.connect(spider.on_bytes, signal=signals.bytes_received)
            return spider

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.rest = b""

        def on_bytes(self, data: bytes, request: Any, spider: Any) -> None:
            *complete, self.rest = (self.rest + data).split(b"\n")
            for raw in complete:
                if raw.strip():
                    mark(json.loads(raw))

        async def parse(self, response: Any) -> Any:
            if spec["handler"] != "http11":
                from scrapy_tlsclient import stream_of

                async for line in stream_of(response).ndjson():
                    mark(line)
            return
            yield

    handler = HANDLERS["http11" if spec["handler"] == "http11" else "tlsclient"]
    settings = {
        "DOWNLOAD_HANDLERS": {"https": handler},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_TIMEOUT": spec["seconds"] + 60,
        "DOWNLOAD_MAXSIZE": 0,
        "DOWNLOAD_WARNSIZE": 0,
    }
    if spec["handler"] != "http11":
        settings["DOWNLOADER_MIDDLEWARES"] = {"scrapy_tlsclient.TLSClientMiddleware": 950}
        settings["SPIDER_MIDDLEWARES"] = {"scrapy_tlsclient.TLSClientStreamMiddleware": 950}
    crawl(NDJSONSpider, settings)
    latencies = sorted((a - s) / 1e6 for a, s in zip(arrivals, sent, strict=True))
    package = ""
    if spec["handler"] != "http11":
        import scrapy_tlsclient

        package = str(Path(scrapy_tlsclient.__file__).parent)
    print(
        json.dumps(
            {
                "package": package,
                "lines": len(arrivals),
                "cpu_s": cpu[1] - cpu[0] if len(cpu) == 2 else None,
                "span_s": (arrivals[-1] - arrivals[0]) / 1e9 if arrivals else None,
                "latencies_ms": latencies,
            }
        )
    )


def run(handler: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = {"handler": handler, "url": url, "lines": args.rate * args.seconds, "seconds": args.seconds}
    env = dict(os.environ)
    if handler == "before":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.before), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=args.seconds + 120,
        check=False,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            if result["lines"] != spec["lines"] or result["cpu_s"] is None:
                raise SystemExit(
                    f"{handler}: {result['lines']} of {spec['lines']} lines\n{done.stderr[-3000:]}"
                )
            return result
    raise SystemExit(f"{handler} printed no result (exit {done.returncode}):\n{done.stderr[-3000:]}")


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=20000, help="lines per second")
    parser.add_argument("--seconds", type=int, default=10, help="how long the stream runs")
    parser.add_argument("--rounds", type=int, default=3, help="crawls per configuration, alternating")
    parser.add_argument("--before", type=Path, help="a directory with an older scrapy_tlsclient package")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if not 1 <= args.rate <= 1_000_000:
        raise SystemExit("--rate must be between 1 and 1,000,000 lines per second")
    handlers = ["tlsclient", "http11", *(["before"] if args.before else [])]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in handlers}
    with test_server() as urls:
        interval_us = max(1, round(1e6 / args.rate))
        url = f"{urls['https']}/live/ndjson?lines={args.rate * args.seconds}&interval_us={interval_us}"
        for _ in range(args.rounds):
            for name in handlers:
                results[name].append(run(name, url, args))
    rows = {}
    for name, runs in results.items():
        per_line = statistics.median(r["cpu_s"] / r["lines"] * 1e6 for r in runs)
        core = statistics.median(r["cpu_s"] / r["span_s"] * 100 for r in runs)
        latencies = sorted(x for r in runs for x in r["latencies_ms"])
        rows[name] = {
            "cpu_us_per_line": per_line,
            "core_percent": core,
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": latencies[-1],
        }
    base = rows["http11"]["cpu_us_per_line"]
    print(f"Command: {command()}")
    print(f"machine: {machine()}")
    print(
        f"stream: /live/ndjson over HTTP/1.1 over TLS, {args.rate} lines/s for {args.seconds} s, "
        f"{args.rounds} rounds"
    )
    print(
        f"{'handler':10} {'CPU us/line':>11} {'vs http11':>9} {'core %':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for name, runs in results.items():
        if runs[0]["package"]:
            print(f"{name}: {runs[0]['package']}")
    for name, row in rows.items():
        print(
            f"{name:10} {row['cpu_us_per_line']:11.2f} {row['cpu_us_per_line'] / base:8.2f}x "
            f"{row['core_percent']:7.0f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} {row['max_ms']:7.2f}"
        )
    if args.json:
        document = {
            "command": command(),
            "machine": machine(),
            "date": datetime.now(UTC).isoformat(),
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
