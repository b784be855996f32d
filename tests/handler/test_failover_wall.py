"""FailoverMiddleware against the test server's bot wall
(native/testserver/wall.go), in whole crawls in fresh processes: the wall
judges every request on its side (JA4 from the ClientHello, User-Agent and
client hints, header order) and logs a verdict the tests read back."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scrapy_tlsclient._browsers import browser_for
from scrapy_tlsclient._identities import load_identities, packaged_identity_files

from conftest import Servers, run_python

IDENTITIES = load_identities(packaged_identity_files())
#: The pool of the crawls, in order of preference: the first two are
#: blocked by the wall's JA4 and header-order rules, the Chromium ones by
#: its rate limit once they have sent RATE_LIMIT requests.
POOL = [
    "firefox_153esr_windows",
    "safari_26_ios",
    "chrome_156_windows",
    "chrome_156_linux",
    "chrome_156_macos",
    "edge_156_windows",
    "chrome_156_android",
    "firefox_153esr_linux",
    "safari_26_macos",
]
RATE_LIMIT = 150
PAGES = 500

CRAWL = """
import json, logging, sys
import scrapy
from scrapy.crawler import CrawlerProcess

base, options = sys.argv[1], json.loads(sys.argv[2])
results = {"ok": [], "errors": [], "log": []}

class Collect(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.INFO and (
            record.name == "scrapy_tlsclient" or "Gave up retrying" in record.getMessage()
        ):
            results["log"].append([record.levelname, record.getMessage()])

class Spider(scrapy.Spider):
    name = "wall"

    async def start(self):
        for path in options["paths"]:
            meta = options.get("metas", {}).get(path, {})
            yield scrapy.Request(base + path, errback=self.failed, meta=meta)

    def parse(self, response):
        results["ok"].append([response.url, response.status, response.meta.get("tls_client_identity")])

    def failed(self, failure):
        response = getattr(failure.value, "response", None)
        results["errors"].append([failure.request.url, type(failure.value).__name__,
                                  response.status if response is not None else None])

settings = {
    "DOWNLOAD_HANDLERS": {"http": "scrapy_tlsclient.TLSClientDownloadHandler",
                          "https": "scrapy_tlsclient.TLSClientDownloadHandler"},
    "DOWNLOADER_MIDDLEWARES": {"scrapy_tlsclient.TLSClientMiddleware": 950},
    "DOWNLOAD_VERIFY_CERTIFICATES": False, "TELNETCONSOLE_ENABLED": False, "LOG_LEVEL": "INFO",
    "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
}
if options["failover"]:
    settings["DOWNLOADER_MIDDLEWARES"]["scrapy_tlsclient.failover.FailoverMiddleware"] = 580
settings.update(options.get("settings", {}))
logging.getLogger().addHandler(Collect())
process = CrawlerProcess(settings)
crawler = process.create_crawler(Spider)
process.crawl(crawler)
process.start()
results["stats"] = {key: value for key, value in crawler.stats.get_stats().items()
                    if isinstance(value, (int, float, str))}
print(json.dumps(results))
"""


def crawl(servers: Servers, paths: list[str], *, failover: bool, **options: Any) -> dict[str, Any]:
    done = run_python(CRAWL, servers.wall, json.dumps({"paths": paths, "failover": failover, **options}))
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def configure(servers: Servers, config: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{servers.wall}/wall/config", data=json.dumps(config).encode(), method="POST"
    )
    with urllib.request.urlopen(request, context=_context(), timeout=10) as answer:
        assert answer.status == 200


def wall_log(servers: Servers) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{servers.wall}/wall/log", context=_context(), timeout=10) as answer:
        entries: list[dict[str, Any]] = json.load(answer)["entries"]
        return entries


def calibrate(servers: Servers) -> dict[str, dict[str, Any]]:
    """What each identity of the pool presents to the wall, from one request
    each, checked against the identity's data: the wall's table of
    coherent identities."""
    configure(servers, {})
    paths = [f"/calibrate/{name}" for name in POOL]
    metas = {f"/calibrate/{name}": {"tls_client_profile": name, "tls_client_session": name} for name in POOL}
    result = crawl(servers, paths, failover=False, metas=metas)
    assert sorted(status for _, status, _ in result["ok"]) == [200] * len(POOL), result
    seen = {entry["path"]: entry for entry in wall_log(servers)}
    table = {}
    for name, path in zip(POOL, paths, strict=True):
        entry, identity = seen[path], IDENTITIES[name]
        hints = dict(identity.client_hints)
        assert entry["user_agent"] == identity.user_agent, name
        assert entry["sec_ch_ua"] == hints.get("sec-ch-ua", ""), name
        assert entry["sec_ch_ua_platform"] == hints.get("sec-ch-ua-platform", ""), name
        if identity.published is not None:
            assert entry["ja4"] == identity.published.ja4, name
        table[name] = {
            "name": name,
            "ja4": entry["ja4"],
            "user_agent": entry["user_agent"],
            "sec_ch_ua": entry["sec_ch_ua"],
            "sec_ch_ua_platform": entry["sec_ch_ua_platform"],
            "order": entry["header_order"],
        }
    return table


@pytest.fixture(scope="module")
def wall_identities(servers: Servers) -> dict[str, dict[str, Any]]:
    return calibrate(servers)


def wall_config(table: dict[str, dict[str, Any]], **rules: Any) -> dict[str, Any]:
    identities = [{key: value for key, value in row.items() if key != "order"} for row in table.values()]
    return {"identities": identities, **rules}


def wall_rules(wall_identities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Firefox's JA4 and Safari's header order are blocked outright; every
    identity is blocked after RATE_LIMIT requests a minute."""
    firefox, safari = wall_identities["firefox_153esr_windows"], wall_identities["safari_26_ios"]
    assert firefox["ja4"] not in {
        row["ja4"] for name, row in wall_identities.items() if "firefox" not in name
    }
    return wall_config(
        wall_identities,
        block_ja4=[firefox["ja4"]],
        block_header_orders=[safari["order"]],
        rate_limit=RATE_LIMIT,
        retry_after=60,
    )


def crawl_the_wall(
    servers: Servers, rules: dict[str, Any], *, failover: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """PAGES pages behind the wall's rules, with or without FailoverMiddleware
    (the same retry budget both ways): the crawl's results and the wall's log."""
    configure(servers, rules)
    paths = [f"/page/{i}" for i in range(PAGES)]
    settings: dict[str, Any] = {"RETRY_TIMES": len(POOL) - 1}
    if failover:
        settings["TLS_CLIENT_FAILOVER_POOL"] = POOL
    return crawl(servers, paths, failover=failover, settings=settings), wall_log(servers)


@pytest.fixture(scope="module")
def rules(wall_identities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return wall_rules(wall_identities)


@pytest.fixture(scope="module")
def with_failover(servers: Servers, rules: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return crawl_the_wall(servers, rules, failover=True)


@pytest.fixture(scope="module")
def without_failover(servers: Servers, rules: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return crawl_the_wall(servers, rules, failover=False)


def test_500_pages_are_each_fetched_once_switching_identities(
    with_failover: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    result, log = with_failover
    assert not result["errors"]
    urls = Counter(url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1] for url, _, _ in result["ok"])
    assert len(urls) == PAGES and set(urls.values()) == {1}
    assert {status for _, status, _ in result["ok"]} == {200}
    served = Counter(entry["path"] for entry in log if entry["status"] == 200)
    assert served == Counter(f"/page/{i}" for i in range(PAGES))
    # Every rule blocked something, and the crawl moved on each time.
    blocks = Counter(entry["block"] for entry in log if entry["block"])
    assert blocks["ja4"] > 0 and blocks["header_order"] > 0 and blocks["rate_limit"] > 0, blocks
    passed_as = Counter(identity for _, _, identity in result["ok"])
    assert passed_as["chrome_156_windows"] == RATE_LIMIT and len(passed_as) >= 4, passed_as
    assert not {"firefox_153esr_windows", "safari_26_ios"} & passed_as.keys()
    changes = [message for level, message in result["log"] if "Site localhost: identity" in message]
    assert changes[0].startswith("Site localhost: identity firefox_153esr_windows -> ")
    assert len(changes) == len(passed_as), changes
    stats = result["stats"]
    for name in POOL:
        requests = stats.get(f"tls_client/identity/localhost/{name}/requests", 0)
        passes = stats.get(f"tls_client/identity/localhost/{name}/passes", 0)
        blocked = stats.get(f"tls_client/identity/localhost/{name}/blocks", 0)
        assert requests == passes + blocked, name
        assert passes == passed_as.get(name, 0), name
    assert stats["retry/reason_count/blocked: 403 cloudflare"] > 0
    assert stats["retry/reason_count/blocked: 403 datadome"] > 0
    assert stats["retry/reason_count/blocked: 429"] > 0
    assert "retry/max_reached" not in stats


def test_the_wall_never_sees_a_mix_of_two_identities(
    with_failover: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, log = with_failover
    assert len(log) > PAGES
    mixed = [entry for entry in log if not entry["coherent"]]
    assert not mixed, mixed[:3]
    for entry in log:
        browser = browser_for(entry["identity"])
        assert browser is not None
        # The header order is the identity's own too.
        placed = [name for name in entry["header_order"] if name in dict(browser.headers)]
        assert placed == [name for name, _ in browser.headers if name in placed], entry


def test_without_the_middleware_the_same_crawl_gets_blocked_pages(
    with_failover: tuple[dict[str, Any], list[dict[str, Any]]],
    without_failover: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    (result, log), (with_result, _) = without_failover, with_failover
    served = [entry for entry in log if entry["status"] == 200]
    assert len(served) == RATE_LIMIT
    assert len(result["ok"]) == RATE_LIMIT and len(with_result["ok"]) == PAGES
    blocked = [error for error in result["errors"] if error[1] == "HttpError"]
    assert len(blocked) == PAGES - RATE_LIMIT and {status for _, _, status in blocked} == {429}


def test_a_page_every_identity_is_refused_ends_retry_exhausted(
    servers: Servers, wall_identities: dict[str, dict[str, Any]]
) -> None:
    configure(servers, wall_config(wall_identities, block_paths=["/never"]))
    pool = ["chrome_156_windows", "firefox_153esr_windows", "safari_26_macos"]
    paths = ["/never", *(f"/fine/{i}" for i in range(20))]
    # Under Twisted's own reactor, the other one the handler supports.
    settings = {"TLS_CLIENT_FAILOVER_POOL": pool, "RETRY_TIMES": 2, "TWISTED_REACTOR": None}
    result = crawl(servers, paths, failover=True, settings=settings)
    log = wall_log(servers)
    assert result["errors"] == [[f"{servers.wall}/never", "HttpError", 403]]
    assert len(result["ok"]) == 20
    never = [entry for entry in log if entry["path"] == "/never"]
    assert len(never) == 3 and all(entry["coherent"] for entry in never)
    assert sorted(entry["identity"] for entry in never) == sorted(pool)
    gave_up = [message for level, message in result["log"] if "Gave up retrying" in message]
    assert gave_up == [f"Gave up retrying <GET {servers.wall}/never> (failed 3 times): blocked: 403 akamai"]
    assert result["stats"]["retry/max_reached"] == 1


@pytest.mark.parametrize("reactor", ["asyncio", "default"])
def test_retry_after_is_honoured_and_the_crawl_waits_when_every_identity_cools_down(
    servers: Servers, wall_identities: dict[str, dict[str, Any]], reactor: str
) -> None:
    configure(servers, wall_config(wall_identities, rate_limit=3, window_seconds=1, retry_after=2))
    settings: dict[str, Any] = {
        "TLS_CLIENT_FAILOVER_POOL": ["chrome_156_linux"],
        "TLS_CLIENT_FAILOVER_COOLDOWN": 0.5,
        "TLS_CLIENT_FAILOVER_MAX_COOLDOWN": 5,
        "RETRY_TIMES": 10,
        "CONCURRENT_REQUESTS": 2,
    }
    if reactor == "default":
        settings["TWISTED_REACTOR"] = None  # Twisted's own; the waits use its clock
    result = crawl(servers, [f"/slow/{i}" for i in range(8)], failover=True, settings=settings)
    log = wall_log(servers)
    assert len(result["ok"]) == 8 and not result["errors"]
    assert result["stats"]["tls_client/failover/waits"] > 0
    limited = [entry for entry in log if entry["block"] == "rate_limit"]
    assert limited
    # After each 429 with Retry-After: 2, nothing is sent for 2 s (less a
    # request already on its way when the block came back).
    for block in limited:
        after = [entry["at"] - block["at"] for entry in log if entry["at"] > block["at"]]
        early = [delta for delta in after if delta < 1.9]
        assert len(early) <= 1, (block, after[:4])


def test_a_closing_spider_does_not_wait_out_a_cool_down(
    servers: Servers, wall_identities: dict[str, dict[str, Any]]
) -> None:
    configure(servers, wall_config(wall_identities, rate_limit=2, retry_after=600))
    settings = {
        "TLS_CLIENT_FAILOVER_POOL": ["chrome_156_linux"],
        "CLOSESPIDER_TIMEOUT": 2,
        "CONCURRENT_REQUESTS": 2,
    }
    start = time.monotonic()
    result = crawl(servers, [f"/held/{i}" for i in range(6)], failover=True, settings=settings)
    took = time.monotonic() - start
    assert result["stats"]["finish_reason"] == "closespider_timeout"
    assert result["stats"]["tls_client/failover/waits"] > 0
    assert len(result["ok"]) == 2
    # The requests waiting for the 600 s cool-down went out as the spider
    # closed, instead of holding the close for ten minutes.
    assert took < 60, took


def test_the_state_resumes_from_jobdir(
    servers: Servers, wall_identities: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    configure(
        servers, wall_config(wall_identities, block_ja4=[wall_identities["firefox_153esr_windows"]["ja4"]])
    )
    settings = {
        "TLS_CLIENT_FAILOVER_POOL": ["firefox_153esr_windows", "chrome_156_macos"],
        "JOBDIR": str(tmp_path / "job"),
        "CONCURRENT_REQUESTS": 1,
    }
    first = crawl(servers, ["/first/0", "/first/1"], failover=True, settings=settings)
    assert [identity for _, _, identity in first["ok"]] == ["chrome_156_macos"] * 2
    saved = json.loads((tmp_path / "job" / "tls_client_failover.json").read_text())
    assert saved["sites"]["localhost"]["sticky"] == "chrome_156_macos"
    assert saved["sites"]["localhost"]["identities"]["firefox_153esr_windows"]["strikes"] == 1
    configure(servers, wall_config(wall_identities))
    second = crawl(servers, ["/second/0", "/second/1"], failover=True, settings=settings)
    assert len(second["ok"]) == 2
    assert {entry["identity"] for entry in wall_log(servers)} == {"chrome_156_macos"}
