"""What a browser identity costs per request, in microseconds of CPU.

    python benchmarks/identity_cost.py [--requests 20000] [--rounds 3]

Times, for the default identity, TLSClientMiddleware.process_request on a
request as Scrapy's header middlewares leave it (the identity's headers for
the request's kind, in its order), and the handler's mapping of the dressed
request to the native input with the identity's wire conventions (HTTP/1.1
names, HTTP/2-only headers) and without them. Pure Python, no library call:
these are the per-request steps the identity adds, to set beside a page's
CPU cost in the crawl benchmark (handler_crawl.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

from scrapy import Request
from scrapy.settings import Settings, default_settings

from scrapy_tlsclient._config import DEFAULT_PROFILE, HandlerConfig
from scrapy_tlsclient._request_input import ClientOptionsCache, request_input_from
from scrapy_tlsclient.middleware import TLSClientMiddleware


def scrapy_request(n: int) -> Request:
    request = Request(f"https://example.com/page/{n}")
    request.headers.setdefault(b"User-Agent", default_settings.USER_AGENT.encode())
    for name, value in default_settings.DEFAULT_REQUEST_HEADERS.items():
        request.headers.setdefault(name.encode(), value.encode())
    request.headers.setdefault(b"Accept-Encoding", b"gzip, deflate, br, zstd")
    return request


def per_request(step: object, requests: list[Request]) -> float:
    assert callable(step)
    start = time.process_time()
    for request in requests:
        step(request)
    return (time.process_time() - start) / len(requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = HandlerConfig.from_settings(Settings())
    profiles = frozenset({DEFAULT_PROFILE})
    middleware = TLSClientMiddleware(config, profiles)
    clients = ClientOptionsCache(config, profiles)

    def mapping(request: Request) -> None:
        request_input_from(request, config, stream_id="s", profiles=profiles, clients=clients)

    figures: dict[str, list[float]] = {"middleware": [], "mapping, conventions on": [], "mapping, off": []}
    for round_number in range(args.rounds):
        requests = [scrapy_request(n) for n in range(args.requests)]
        figures["middleware"].append(per_request(middleware.process_request, requests))
        plain = [request.replace() for request in requests]
        for request in plain:
            request.meta["tls_client_browser_headers"] = False  # same headers, no wire conventions
        # Alternate which goes first, so neither always runs warm.
        pair = [("mapping, conventions on", requests), ("mapping, off", plain)]
        for name, batch in pair if round_number % 2 == 0 else reversed(pair):
            figures[name].append(per_request(mapping, batch))
    print(
        f"identity {DEFAULT_PROFILE}, {args.requests} requests, "
        f"median of {args.rounds} rounds (CPU us/request):"
    )
    for name, values in figures.items():
        print(
            f"  {name:24} {statistics.median(values):6.1f}  (rounds {', '.join(f'{v:.1f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
