"""Memory stays bounded by the chunk size, not the body size."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import Servers, pattern_digest, run_python

STREAM_200_MIB = """
import hashlib, json, sys
from scrapy_tlsclient.binding import get_library

def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")

url, size = sys.argv[1], int(sys.argv[2])
lib = get_library()
base = {"requestMethod": "GET", "isByteResponse": True, "rawBody": True, "insecureSkipVerify": True,
        "sessionId": "memory", "timeoutMilliseconds": -1}
# Warm up: load the runtime, open the connection, run one small stream.
warm = lib.request_stream(dict(base, requestUrl=f"{url}/bytes?n=4000000"))
while not lib.read_stream(warm.stream_id, timeout_ms=5000, max_bytes=1 << 20).eof:
    pass
baseline = rss_bytes()
peak = baseline
digest = hashlib.sha256()
received = 0
stream = lib.request_stream(dict(base, requestUrl=f"{url}/bytes?n={size}"))
while True:
    read = lib.read_stream(stream.stream_id, timeout_ms=5000, max_bytes=1 << 20)
    if read.eof:
        break
    digest.update(read.chunk)
    received += len(read.chunk)
    peak = max(peak, rss_bytes())
print(json.dumps({"baseline": baseline, "peak": peak, "received": received, "sha256": digest.hexdigest()}))
"""


@pytest.mark.slow
def test_200_mib_stream_keeps_rss_growth_under_50_mib(servers: Servers) -> None:
    size = 200 * 1024 * 1024
    result = run_python(STREAM_200_MIB, servers.h2, str(size))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    growth_mib = (figures["peak"] - figures["baseline"]) / 2**20
    baseline_mib = figures["baseline"] / 2**20
    print(f"200 MiB via readStream: RSS baseline {baseline_mib:.1f} MiB, growth {growth_mib:.1f} MiB")
    assert figures["received"] == size
    assert figures["sha256"] == pattern_digest(size, "sha256")
    assert growth_mib < 50


POST_50_MB = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

url, size = sys.argv[1], int(sys.argv[2])
body = bytes(range(256)) * (size // 256)
out = {}

def rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)

class Post(scrapy.Spider):
    name = "post"

    async def start(self):
        yield scrapy.Request(url + "/echo", method="POST", body=b"warm", callback=self.warm, dont_filter=True)

    def warm(self, response):
        out["baseline"] = rss("VmRSS:")
        with open("/proc/self/clear_refs", "w") as refs:  # VmHWM starts again from VmRSS
            refs.write("5")
        yield scrapy.Request(url + "/echo", method="POST", body=body, callback=self.done, dont_filter=True)

    def done(self, response):
        out["peak"] = rss("VmHWM:")
        out["echo"] = json.loads(response.body)

process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "DOWNLOAD_TIMEOUT": 120,
    "WARN_ON_GENERATOR_RETURN_VALUE": False,
})
process.crawl(Post)
process.start()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_50_mb_post_costs_about_its_size_once_more(servers: Servers) -> None:
    """The request body goes to the library as raw bytes beside the request
    input: Python holds it once (the Request's own), the library once while
    it sends it (measured: 1.02x the body beyond the Request's own; as base64
    inside the JSON it was 6.7x)."""
    size = 50 * 1024 * 1024
    result = run_python(POST_50_MB, servers.https, str(size))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert "echo" in figures, result.stderr[-3000:]
    assert figures["echo"]["body_len"] == size
    assert figures["echo"]["body_sha256"] == hashlib.sha256(bytes(range(256)) * (size // 256)).hexdigest()
    growth = (figures["peak"] - figures["baseline"]) / size
    print(f"50 MiB POST: peak RSS growth {growth:.2f}x the body, beyond the body itself")
    assert growth < 1.5
