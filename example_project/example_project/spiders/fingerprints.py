"""An ordinary crawl with per-request browser profiles: each request asks
the site which fingerprints it saw, and the spider logs them: the JA4 of
the TLS ClientHello and the Akamai fingerprint of the HTTP/2 preamble.

    scrapy crawl fingerprints -a url=https://localhost:8443/fingerprint

https://localhost:8443 is the example project's demo site: start it first
with ``python demo_site.py`` in example_project/ (docs/demo_site.rst), or
let ``python run_demo.py`` start it and run the spider. Any other site: ``-a url=...``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy

PROFILES = ["chrome_150", "firefox_135", "safari_ios_18_5"]


class FingerprintsSpider(scrapy.Spider):
    name = "fingerprints"
    url = ""

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.url:
            raise ValueError("give a fingerprint echo page: scrapy crawl fingerprints -a url=...")
        for profile in PROFILES:
            yield scrapy.Request(self.url, meta={"tls_client_profile": profile}, dont_filter=True)

    def parse(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        seen = json.loads(response.text)
        profile = response.meta["tls_client_profile"]
        self.logger.info(
            "%s: the site saw JA4 %s, Akamai HTTP/2 %s over %s, User-Agent %s",
            profile,
            seen.get("ja4"),
            seen.get("akamai"),
            seen.get("http_version"),
            seen.get("user_agent"),
        )
        yield {"profile": profile, **seen}
