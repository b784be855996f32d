"""Each supported profile, through a whole Scrapy crawl with the
middleware, arrives at the fingerprint-inspecting server with its browser's
published JA4 and Akamai HTTP/2 fingerprints and its header order; Scrapy's
own handler does not. The published values and their sources are in
docs/profiles.rst."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.utils.defer import deferred_f_from_coro_f
from test_concurrency import gather

from scrapy_tlsclient._browsers import browser_for

from conftest import Servers, run_python
from handler_utils import open_handler

ROOT = Path(__file__).resolve().parents[2]
CHROME_AKAMAI = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
FIREFOX_AKAMAI = "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s"
SAFARI_AKAMAI = "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p"

#: profile -> (published JA4 of the real browser or None, published Akamai)
SUPPORTED: dict[str, tuple[str | None, str]] = {
    "chrome_131": ("t13d1516h2_8daaf6152771_02713d6af862", CHROME_AKAMAI),
    "chrome_133": ("t13d1516h2_8daaf6152771_d8a2da3f94cd", CHROME_AKAMAI),
    "chrome_144": ("t13d1516h2_8daaf6152771_d8a2da3f94cd", CHROME_AKAMAI),
    "chrome_150": ("t13d1516h2_8daaf6152771_806a8c22fdea", CHROME_AKAMAI),
    "chrome_152": ("t13d1517h2_8daaf6152771_cb7bf5808d99", CHROME_AKAMAI),
    "firefox_135": (None, FIREFOX_AKAMAI),
    "safari_ios_18_5": ("t13d2014h2_a09f3c656075_e42f34c56612", SAFARI_AKAMAI),
    "safari_ios_26_0": ("t13d2013h2_a09f3c656075_7f0f34a4126d", SAFARI_AKAMAI),
}

CRAWL = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

url, handler, profiles = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
seen = {}

class Spider(scrapy.Spider):
    name = "fingerprints"

    async def start(self):
        for profile in profiles:
            meta = {"tls_client_profile": profile} if handler == "tls" and profile != "default" else {}
            yield scrapy.Request(f"{url}/?{profile}", meta={**meta, "profile": profile}, dont_filter=True)

    def parse(self, response):
        seen[response.meta["profile"]] = json.loads(response.body)

settings = {"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "COOKIES_ENABLED": True}
if handler == "tls":
    settings["DOWNLOAD_HANDLERS"] = {"https": "scrapy_tlsclient.TLSClientDownloadHandler"}
    settings["DOWNLOADER_MIDDLEWARES"] = {"scrapy_tlsclient.TLSClientMiddleware": 950}
process = CrawlerProcess(settings)
process.crawl(Spider)
process.start()
print(json.dumps(seen))
"""


def crawl(url: str, handler: str, profiles: list[str]) -> dict[str, Any]:
    result = run_python(CRAWL, url, handler, ",".join(profiles), env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


def test_supported_profiles_match_their_browsers(servers: Servers) -> None:
    seen = crawl(servers.fingerprint, "tls", [*SUPPORTED, "default"])
    for profile, (ja4, akamai) in SUPPORTED.items():
        fingerprint = seen[profile]
        assert fingerprint["http_version"] == "h2", profile
        if ja4 is not None:
            assert fingerprint["ja4"] == ja4, profile
        assert fingerprint["akamai"] == akamai, profile
        browser = browser_for(profile)
        assert browser is not None
        sent = fingerprint["header_order"]
        navigation = [name for name, _ in browser.headers]
        # The browser's navigation headers, in its order (Scrapy's own
        # Accept-Encoding may lack br/zstd where Scrapy cannot decode them).
        assert [name for name in sent if name in navigation] == navigation, profile
        assert dict(fingerprint["headers"])["user-agent"] == browser.user_agent, profile
    # The default identity (tests/handler/test_identities.py checks it whole).
    assert seen["default"]["ja4"] == "t13d1517h2_8daaf6152771_cb7bf5808d99"


def test_scrapys_own_handler_matches_no_browser(servers: Servers) -> None:
    scrapy_fingerprint = crawl(servers.fingerprint, "scrapy", ["default"])["default"]
    published = {ja4 for ja4, _ in SUPPORTED.values()} | {akamai for _, akamai in SUPPORTED.values()}
    assert scrapy_fingerprint["ja4"] not in published
    assert scrapy_fingerprint["akamai"] not in published
    assert scrapy_fingerprint["http_version"] == "http/1.1"


@deferred_f_from_coro_f
async def test_200_concurrent_requests_over_4_profiles_keep_their_fingerprints(servers: Servers) -> None:
    profiles = ["chrome_131", "chrome_150", "firefox_135", "safari_ios_18_5"]

    async def fingerprint(n: int) -> tuple[str, dict[str, Any]]:
        profile = profiles[n % 4]
        request = Request(
            f"{servers.fingerprint}/?n={n}", meta={"tls_client_profile": profile}, dont_filter=True
        )
        response = await handler.download_request(request)
        return profile, json.loads(response.body)

    async with open_handler(CONCURRENT_REQUESTS=200) as handler:
        results = await gather(*(fingerprint(n) for n in range(200)))
    by_profile: dict[str, set[tuple[str, str]]] = {}
    for result in results:
        assert not isinstance(result, BaseException), result
        profile, seen = result  # type: ignore[misc]
        by_profile.setdefault(profile, set()).add((seen["ja4"], seen["akamai"]))
    assert sorted(by_profile) == sorted(profiles)
    for profile, fingerprints in by_profile.items():
        assert len(fingerprints) == 1, (profile, fingerprints)
        ja4, akamai = SUPPORTED[profile]
        assert fingerprints == {(ja4 or next(iter(fingerprints))[0], akamai)}, profile


@pytest.mark.parametrize("profile", ["chrome_150", "firefox_135"])
@deferred_f_from_coro_f
async def test_random_extension_order_keeps_ja4(servers: Servers, profile: str) -> None:
    async with open_handler() as handler:
        seen = []
        for n, shuffle in enumerate([True, True, False]):
            meta = {
                "tls_client_profile": profile,
                "tls_client_random_tls_extension_order": shuffle,
                "tls_client_session": f"s{n}",
            }
            response = await handler.download_request(Request(f"{servers.fingerprint}/", meta=meta))
            seen.append(json.loads(response.body))
    assert len({fingerprint["ja4"] for fingerprint in seen}) == 1


@deferred_f_from_coro_f
async def test_a_custom_tls_spec_is_what_goes_on_the_wire(servers: Servers) -> None:
    """The example of docs/settings.rst (TLS_CLIENT_CUSTOM_TLS), as written."""
    custom = json.loads((ROOT / "docs" / "examples" / "custom_tls.json").read_text())
    ja3 = custom["ja3String"]
    async with open_handler() as handler:
        response = await handler.download_request(
            Request(f"{servers.fingerprint}/", meta={"tls_client_custom_tls": custom})
        )
    seen = json.loads(response.body)
    assert seen["ja3"] == ja3
    assert seen["akamai"] == "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s"
    assert seen["ja4"].startswith("t13d0512h2_")
