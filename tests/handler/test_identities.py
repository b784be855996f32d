"""The packaged browser identities on the wire: the verified ones carry the
real browser's published JA4 (JA3N where published) and Akamai HTTP/2
fingerprints, through a whole crawl with the middleware; each kind of
request goes out with the identity's headers for that kind, in order, over
HTTP/2 and HTTP/1.1; a FilesPipeline download sends download headers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.utils.defer import deferred_f_from_coro_f
from test_fingerprints import crawl

from scrapy_tlsclient._browsers import browser_for
from scrapy_tlsclient._config import DEFAULT_PROFILE
from scrapy_tlsclient._identities import REQUEST_KINDS, load_identities, packaged_identity_files

from conftest import Servers, run_python
from handler_utils import open_handler

IDENTITIES = load_identities(packaged_identity_files())
VERIFIED = sorted(name for name, identity in IDENTITIES.items() if identity.verified)


def test_the_default_is_a_verified_current_chrome() -> None:
    default = IDENTITIES[DEFAULT_PROFILE]
    assert default.family == "chrome" and default.major >= 153 and default.verified


def test_verified_identities_match_their_published_fingerprints(servers: Servers) -> None:
    seen = crawl(servers.fingerprint, "tls", [*VERIFIED, "default"])
    assert VERIFIED
    for name in VERIFIED:
        published = IDENTITIES[name].published
        assert published is not None
        fingerprint = seen[name]
        assert fingerprint["http_version"] == "h2", name
        assert fingerprint["ja4"] == published.ja4, name
        assert fingerprint["akamai"] == published.akamai, name
        if published.ja3n is not None:
            assert fingerprint["ja3n_hash"] == published.ja3n, name
        browser = browser_for(name)
        assert browser is not None
        # Connection is HTTP/1.1's: HTTP/2 leaves it out.
        navigation = [header for header, _ in browser.headers if header != "connection"]
        assert [header for header in fingerprint["header_order"] if header in navigation] == navigation, name
        assert dict(fingerprint["headers"])["user-agent"] == IDENTITIES[name].user_agent, name
    assert seen["default"]["ja4"] == seen[DEFAULT_PROFILE]["ja4"]


@deferred_f_from_coro_f
async def test_shuffling_identity_keeps_its_ja4_over_20_connections(servers: Servers) -> None:
    ja4s, ja3s = set(), set()
    async with open_handler() as handler:
        for n in range(20):
            # A session each: a new connection, so a new ClientHello.
            request = Request(
                f"{servers.fingerprint}/?n={n}", meta={"tls_client_session": f"s{n}"}, dont_filter=True
            )
            seen = json.loads((await handler.download_request(request)).body)
            ja4s.add(seen["ja4"])
            ja3s.add(seen["ja3_hash"])
    assert ja4s == {IDENTITIES[DEFAULT_PROFILE].published.ja4}  # type: ignore[union-attr]
    assert len(ja3s) > 1  # the extension order moved, as Chrome's does


KIND_CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

url, http1 = sys.argv[1], sys.argv[2] == "1"
kinds = sys.argv[3].split(",")
seen = {}

class Spider(scrapy.Spider):
    name = "kinds"

    async def start(self):
        for kind in kinds:
            # A session (so a connection) each: the server reports the first
            # request of a connection.
            meta = {"tls_client_request_kind": kind, "kind": kind, "tls_client_force_http1": http1,
                    "tls_client_session": kind}
            yield scrapy.Request(f"{url}/{kind}", meta=meta, dont_filter=True)

    def parse(self, response):
        seen[response.meta["kind"]] = json.loads(response.body)

settings = {
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
}
process = CrawlerProcess(settings)
process.crawl(Spider)
process.start()
print(json.dumps(seen))
"""


@pytest.mark.parametrize("http1", [False, True], ids=["h2", "http1"])
def test_each_kind_of_request_sends_the_identitys_headers_in_order(servers: Servers, http1: bool) -> None:
    result = run_python(
        KIND_CRAWL, servers.fingerprint, "1" if http1 else "0", ",".join(REQUEST_KINDS), env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    browser = browser_for(DEFAULT_PROFILE)
    assert browser is not None
    for kind in REQUEST_KINDS:
        fingerprint = seen[kind]
        assert fingerprint["http_version"] == ("http/1.1" if http1 else "h2"), kind
        expected = [(name, value) for name, value in browser.headers_for(kind) if name != "accept-encoding"]
        # Connection is HTTP/1.1's own; the identity's HTTP/2-only headers
        # (Chrome's priority) stay off HTTP/1.1.
        dropped = browser.http2_only if http1 else ("connection",)
        expected = [(name, value) for name, value in expected if name not in dropped]
        if kind != "navigation":
            # No Referer: taken to come from a page of the same origin.
            expected = [(n, "same-origin" if n == "sec-fetch-site" else v) for n, v in expected]
        names = [name for name, _ in expected]
        # Names and values as the server read them (HTTP/1.1: wire case).
        sent = [(name, value) for name, value in fingerprint["headers"] if name.lower() in names]
        if http1:
            assert [name for name, _ in sent] == [browser.http1_names[name] for name in names], kind
            assert fingerprint["headers"][0][0] == "Host", kind  # first, as browsers write it
        assert [(name.lower(), value) for name, value in sent] == expected, kind


FILES_CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

url, store = sys.argv[1], sys.argv[2]

class Spider(scrapy.Spider):
    name = "files"

    async def start(self):
        # A session of its own, so the pipeline's request opens a new
        # connection (the server reports a connection's first request).
        yield scrapy.Request(f"{url}/page", meta={"tls_client_session": "page"}, dont_filter=True)

    def parse(self, response):
        yield {"file_urls": [f"{url}/files/setup.exe"]}

settings = {
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
    "ITEM_PIPELINES": {"scrapy.pipelines.files.FilesPipeline": 1},
    "FILES_STORE": store,
}
process = CrawlerProcess(settings)
process.crawl(Spider)
process.start()
"""


def test_files_pipeline_requests_go_out_as_downloads(servers: Servers, tmp_path: Path) -> None:
    result = run_python(FILES_CRAWL, servers.fingerprint, str(tmp_path), env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    stored = list((tmp_path / "full").iterdir())
    assert len(stored) == 1
    # The fingerprint server answers with what it received: the stored file
    # is the record of the pipeline's request.
    fingerprint = json.loads(stored[0].read_bytes())
    browser = browser_for(DEFAULT_PROFILE)
    assert browser is not None
    sent = dict(fingerprint["headers"])
    for name, value in browser.headers_for("download"):
        if name not in ("accept-encoding", "sec-fetch-site", "connection"):  # over HTTP/2
            assert sent.get(name) == value, name
