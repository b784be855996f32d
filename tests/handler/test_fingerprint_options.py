"""Fingerprint options seen on the wire by the loopback test servers."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from scrapy import Request
from scrapy.utils.defer import deferred_f_from_coro_f

from conftest import Servers, run_python
from handler_utils import open_handler


def spki_pin(cert_path: str) -> str:
    """The HPKP pin of a PEM certificate: base64 SHA-256 of its public key."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def fetch_json(handler: Any, url: str, **meta: object) -> Any:
    response = await handler.download_request(Request(url, meta=meta))
    assert response.status == 200, response.body[:200]
    return json.loads(response.body)


PINS_CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

https, good, wrong = sys.argv[1:4]
localhost = https.replace("127.0.0.1", "localhost")
outcomes = {}

# tls-client keeps pins per host per process: one host per pin set. Each
# request is sent after the previous one's outcome, so the order is fixed.
STEPS = [("good", https, "127.0.0.1", good), ("wrong", localhost, "localhost", wrong),
         ("conflict", https, "127.0.0.1", wrong)]


class Spider(scrapy.Spider):
    name = "pins"

    async def start(self):
        yield self.step()

    def step(self):
        name, url, host, pin = STEPS[len(outcomes)]
        meta = {"tls_client_certificate_pins": {host: [pin]}, "name": name}
        return scrapy.Request(f"{url}/tls?{name}", meta=meta, errback=self.failed, dont_filter=True)

    def parse(self, response):
        outcomes[response.meta["name"]] = response.status
        if len(outcomes) < len(STEPS):
            yield self.step()

    def failed(self, failure):
        outcomes[failure.request.meta["name"]] = f"{type(failure.value).__name__}: {failure.value}"
        if len(outcomes) < len(STEPS):
            yield self.step()

process = CrawlerProcess({
    "DOWNLOAD_HANDLERS": {"https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "DOWNLOAD_VERIFY_CERTIFICATES": True, "CONCURRENT_REQUESTS": 1, "RETRY_ENABLED": False,
    "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "WARN_ON_GENERATOR_RETURN_VALUE": False,
})
process.crawl(Spider)
process.start()
print(json.dumps(outcomes))
"""


def test_certificate_pins(servers: Servers) -> None:
    good = spki_pin(servers.cert)
    wrong = base64.b64encode(b"\x01" * 32).decode()
    # Pins need certificate verification, so the test CA is trusted here.
    result = run_python(
        PINS_CRAWL, servers.https, good, wrong, env=dict(os.environ, SSL_CERT_FILE=servers.cert)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(outcomes) == 3, (outcomes, result.stderr[-2000:])
    assert outcomes["good"] == 200
    assert outcomes["wrong"].startswith("DownloadFailedError") and "bad ssl pin" in outcomes["wrong"]
    assert outcomes["conflict"].startswith("ValueError: Certificate pins")
    assert "'127.0.0.1' is already pinned to" in outcomes["conflict"]


@deferred_f_from_coro_f
async def test_pins_need_certificate_verification(servers: Servers) -> None:
    async with open_handler() as handler:
        with pytest.raises(ValueError, match="need DOWNLOAD_VERIFY_CERTIFICATES = True"):
            await handler.download_request(
                Request(
                    f"{servers.https}/tls",
                    meta={"tls_client_certificate_pins": {"127.0.0.1": [spki_pin(servers.cert)]}},
                )
            )


@deferred_f_from_coro_f
async def test_server_name_is_sent_instead_of_the_host(servers: Servers) -> None:
    async with open_handler() as handler:
        plain = await fetch_json(handler, f"{servers.h2}/tls")
        named = await fetch_json(handler, f"{servers.h2}/tls", tls_client_server_name="localhost")
    assert plain["server_name"] == ""  # an IP address is never sent as SNI
    assert named["server_name"] == "localhost"


@deferred_f_from_coro_f
async def test_extension_order_shuffles_per_connection_like_chrome(servers: Servers) -> None:
    async def extensions(handler: Any, **meta: object) -> list[list[int]]:
        # Each identity has a client of its own, so a connection of its own.
        return [
            (await fetch_json(handler, f"{servers.h2}/tls", tls_client_session=f"id{n}", **meta))[
                "extensions"
            ]
            for n in range(4)
        ]

    async with open_handler() as handler:
        shuffled = await extensions(handler)
        fixed = await extensions(handler, tls_client_random_tls_extension_order=False)
        firefox = await extensions(handler, tls_client_profile="firefox_135")
    assert len({without_grease(e) for e in shuffled}) > 1
    assert len({tuple(sorted(without_grease(e))) for e in shuffled}) == 1  # the same ones, reordered
    assert len({without_grease(e) for e in fixed}) == 1
    assert len({without_grease(e) for e in firefox}) == 1


def without_grease(values: list[int]) -> tuple[int, ...]:
    """GREASE values (0x?A?A) are random per connection in Chrome."""
    return tuple(value for value in values if (value & 0x0F0F) != 0x0A0A)


@deferred_f_from_coro_f
async def test_header_order_meta(servers: Servers) -> None:
    headers = {"Accept": "a", "X-One": "1", "User-Agent": "u", "X-Two": "2"}
    async with open_handler() as handler:
        response = await handler.download_request(
            Request(
                f"{servers.https}/echo",
                headers=headers,
                meta={"tls_client_header_order": ["x-two", "user-agent"]},
            )
        )
    echo = json.loads(response.body)
    assert echo["header_order"] == "wire"
    names = [
        name.lower()
        for name, _ in echo["headers"]
        if name.lower() in {"accept", "x-one", "user-agent", "x-two"}
    ]
    assert names == ["x-two", "user-agent", "accept", "x-one"]
