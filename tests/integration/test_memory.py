"""Memory stays bounded by the chunk size, not the body size."""

from __future__ import annotations

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
