"""What a page of the crawl benchmark costs the Go side, with no Python in the process.

    python benchmarks/native_page_cpu.py --pages 4000 --concurrency 128 --rounds 3

Starts the loopback test server, records the request input the handler
builds for a page of ``handler_crawl.py`` (2,048 bytes over HTTPS/1.1,
``TLSClientMiddleware`` on, the profile ``--profile``, which must be one of
upstream's compiled profiles), then runs ``native/cmd/pagecost`` on that
input in two modes, alternating, ``--rounds`` times each:

* ``upstream``: upstream's client makes each request itself, from a pool of
  goroutines, with the same headers in the same order: the least any
  handler built on it can spend;
* ``bridge``: each request goes through this project's library as the
  handler drives it, a submission frame on the completion socket and its
  answer back on it.

Pages go as fast as the server answers, so the Go runtime is never idle:
in a crawl, where pages come at Scrapy's pace, the same work costs more
per page (each one wakes threads that went to sleep). Prints each mode's
median CPU microseconds per page (user + system time of
the whole pagecost process; the server runs in another) and the ratio of
the two. ``handler_crawl.py``'s column "other threads" is the same
library's CPU per page inside a Scrapy crawl.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _crawl import crawl
from _report import command, machine
from handler_crawl import MIDDLEWARE, REACTORS

from scrapy_tlsclient import TLSClientDownloadHandler

from _testserver import NATIVE_DIR, test_server

MODES = ("upstream", "bridge")
SIZE = 2048


class RecordingHandler(TLSClientDownloadHandler):
    """The handler, keeping the request inputs it sends."""

    recorded: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        send = self._calls.request_stream

        async def recording(request_input: Any, body: Any) -> Any:
            RecordingHandler.recorded.append(dict(request_input))
            return await send(request_input, body)

        self._calls.request_stream = recording  # type: ignore[method-assign]


def record_input(base: str, concurrency: int, profile: str, path: Path) -> None:
    """Crawl one page as handler_crawl.py does and write its request input
    to ``path``, with its URL cut before the page number."""
    from scrapy import Request, Spider

    class OnePage(Spider):
        name = "native_page_cpu"

        async def start(self) -> AsyncIterator[Request]:
            yield Request(f"{base}/bytes?n={SIZE}&i=0", callback=self.parse)

        def parse(self, response: Any) -> None:
            pass

    handler = f"{__name__}.RecordingHandler"
    crawl(
        OnePage,
        {
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
            "DOWNLOADER_MIDDLEWARES": MIDDLEWARE,
            "TWISTED_REACTOR": REACTORS["asyncio"],
            "TLS_CLIENT_PROFILE": profile,
        },
    )
    if not RecordingHandler.recorded:
        raise SystemExit("the crawl sent no request")
    request_input = RecordingHandler.recorded[0]
    request_input["requestUrl"] = request_input["requestUrl"].removesuffix("0")
    path.write_text(json.dumps(request_input))


def run_pagecost(binary: Path, input_path: Path, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    options = ["-pages", str(args.pages), "-concurrency", str(args.concurrency)]
    done = subprocess.run(
        [str(binary), "-input", str(input_path), "-mode", mode, *options],
        capture_output=True,
        text=True,
        timeout=args.timeout,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pagecost -mode {mode} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=4000, help="pages per run")
    parser.add_argument("--concurrency", type=int, default=128, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, alternating")
    parser.add_argument("--profile", default="chrome_150", help="one of upstream's compiled profiles")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a run is killed")
    parser.add_argument("--record", nargs=3, metavar=("BASE", "CONCURRENCY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.record is not None:
        base, concurrency, path = args.record
        record_input(base, int(concurrency), args.profile, Path(path))
        return
    if args.pages < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error("--pages, --concurrency and --rounds must be positive")
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the benchmark needs Go to build native/cmd/pagecost")
    print(f"command: {command()}")
    print(f"machine: {machine()}")
    print(
        f"{args.pages} pages of {SIZE} bytes over HTTPS/1.1, {args.concurrency} in flight, profile "
        f"{args.profile}, TLSClientMiddleware's headers; median of {args.rounds} run(s) per mode"
    )
    with tempfile.TemporaryDirectory() as tmp, test_server() as urls:
        binary = Path(tmp) / "pagecost"
        subprocess.run([go, "build", "-o", str(binary), "./cmd/pagecost"], cwd=NATIVE_DIR, check=True)
        input_path = Path(tmp) / "input.json"
        record = [urls["https"], str(args.concurrency), str(input_path)]
        subprocess.run([sys.executable, __file__, "--profile", args.profile, "--record", *record], check=True)
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for round_ in range(args.rounds):
            for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                result = run_pagecost(binary, input_path, mode, args)
                runs[mode].append(result)
                print(
                    f"  round {round_ + 1}, {mode}: {result['cpu_us_per_page']:.1f} us/page, "
                    f"{args.pages / result['wall_s']:,.0f} pages/s",
                    file=sys.stderr,
                    flush=True,
                )
    medians = {mode: statistics.median(r["cpu_us_per_page"] for r in runs[mode]) for mode in MODES}
    for mode in MODES:
        pages_per_s = statistics.median(args.pages / r["wall_s"] for r in runs[mode])
        print(f"  {mode:9s} CPU {medians[mode]:6.1f} us/page   {pages_per_s:,.0f} pages/s")
    print(f"  bridge / upstream: {medians['bridge'] / medians['upstream']:.2f}x")


if __name__ == "__main__":
    main()
