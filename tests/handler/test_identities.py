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
async def test_verified_identities_keep_their_fingerprints_over_20_connections(servers: Servers) -> None:
    async with open_handler() as handler:
        for name in VERIFIED:
            identity = IDENTITIES[name]
            ja4s, akamais, orders = set(), set(), set()
            for n in range(20):
                # A session each: a new connection, so a new ClientHello.
                meta = {"tls_client_profile": name, "tls_client_session": f"{name}-{n}"}
                request = Request(f"{servers.fingerprint}/?n={n}", meta=meta, dont_filter=True)
                seen = json.loads((await handler.download_request(request)).body)
                ja4s.add(seen["ja4"])
                akamais.add(seen["akamai"])
                orders.add(seen["ja3_hash"])
            assert identity.published is not None
            assert ja4s == {identity.published.ja4}, name
            assert akamais == {identity.published.akamai}, name
            # Chrome permutes its extensions per connection, Firefox and
            # Safari do not: the JA3 (order-sensitive) shows which.
            assert (len(orders) > 1) == identity.shuffle_extensions, name


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


#: The kinds of HTTP request; the WebSocket handshake's kind has its own
#: test (tests/handler/test_websocket_handshake.py).
HTTP_KINDS = [kind for kind in REQUEST_KINDS if kind != "websocket"]


@pytest.mark.parametrize("http1", [False, True], ids=["h2", "http1"])
def test_each_kind_of_request_sends_the_identitys_headers_in_order(servers: Servers, http1: bool) -> None:
    result = run_python(
        KIND_CRAWL, servers.fingerprint, "1" if http1 else "0", ",".join(HTTP_KINDS), env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    browser = browser_for(DEFAULT_PROFILE)
    assert browser is not None
    for kind in HTTP_KINDS:
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
            assert [name for name, _ in sent] == [
                browser.http1_keys[name.title().encode()] for name in names
            ], kind
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


USER_FILE_CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

url, path = sys.argv[1], sys.argv[2]
seen = {}

class Spider(scrapy.Spider):
    name = "user_identity"

    async def start(self):
        yield scrapy.Request(url, meta={"tls_client_profile": "my_chrome"}, dont_filter=True)

    def parse(self, response):
        seen.update(json.loads(response.body))

process = CrawlerProcess({
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
    "TLS_CLIENT_IDENTITY_FILES": [path],
})
process.crawl(Spider)
process.start()
print(json.dumps(seen))
"""


def test_a_users_identity_file_is_loaded_and_used(servers: Servers, tmp_path: Path) -> None:
    document = json.loads((packaged_identity_files()[0].parent / f"{DEFAULT_PROFILE}.json").read_text())
    document["name"] = "my_chrome"
    document["user_agent"] = document["user_agent"].replace("Windows NT 10.0", "Windows NT 11.0")
    path = tmp_path / "my_chrome.json"
    path.write_text(json.dumps(document))
    result = run_python(USER_FILE_CRAWL, servers.fingerprint, str(path), env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["ja4"] == IDENTITIES[DEFAULT_PROFILE].published.ja4  # type: ignore[union-attr]
    assert dict(seen["headers"])["user-agent"] == document["user_agent"]


def test_a_malformed_identity_file_stops_the_crawl_at_start_naming_the_field(
    servers: Servers, tmp_path: Path
) -> None:
    document = json.loads((packaged_identity_files()[0].parent / f"{DEFAULT_PROFILE}.json").read_text())
    document["name"] = "my_chrome"
    document["tls"]["extensions"][1] = {"name": "supported_groups", "groups": ["GREASE", "x25519"]}
    path = tmp_path / "my_chrome.json"
    path.write_text(json.dumps(document))
    result = run_python(USER_FILE_CRAWL, servers.fingerprint, str(path), env=dict(os.environ))
    # The crawl stops before any request (scrapy crawl then exits 1:
    # tests/integration/test_crawl_command.py), with one line naming the
    # file and the field.
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}
    errors = [line for line in result.stderr.splitlines() if "TLS_CLIENT_IDENTITY_FILES:" in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert f"{path}: field tls.extensions[1].groups[1]:" in errors[0]
