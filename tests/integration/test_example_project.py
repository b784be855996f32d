"""The example project's feed spiders against its local demo site."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"


def run_demo(spider: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run one example spider against the demo site; its items."""
    result = subprocess.run(
        [sys.executable, "run_demo.py", spider],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("spider", ["sse", "ndjson"])
def test_feed_spiders_yield_one_item_per_event(spider: str) -> None:
    items = run_demo(spider)
    assert len(items) == 20
    # TLSFilesPipeline is enabled only by the spiders that download files.
    assert all("files" not in item for item in items)
    if spider == "sse":
        # The demo feed ends after 10 events: the rest came after a reconnection with Last-Event-ID.
        assert [item["id"] for item in items] == [str(n) for n in range(20)]
        assert all(item["event"] == "quote" for item in items)
    else:
        assert [item["value"]["n"] for item in items] == list(range(20))


def test_binaries_spider_stores_the_demo_files(tmp_path: Path) -> None:
    items = run_demo("binaries", env=dict(os.environ, DEMO_FILES_STORE=str(tmp_path)))
    sys.path.insert(0, str(EXAMPLE))
    import demo_site

    assert sorted(item["name"] for item in items) == sorted(demo_site.BINARIES)
    for item in items:
        (stored,) = item["files"]
        data = (tmp_path / stored["path"]).read_bytes()
        assert len(data) == demo_site.BINARIES[item["name"]]
        assert hashlib.md5(data).hexdigest() == stored["checksum"]


def test_scrapy_fetch_and_shell_use_the_handler_outside_a_crawl() -> None:
    sys.path.insert(0, str(EXAMPLE))
    import demo_site

    site, url = demo_site.start()
    try:
        fetch = subprocess.run(
            [sys.executable, "-m", "scrapy", "fetch", "--loglevel", "INFO", f"{url}/"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert fetch.returncode == 0, fetch.stderr[-3000:]
        assert "scrapy-tlsclient demo" in fetch.stdout
        assert "[scrapy_tlsclient] INFO: scrapy_tlsclient" in fetch.stderr  # the handler's start line
        shell = subprocess.run(
            [
                sys.executable,
                "-m",
                "scrapy",
                "shell",
                "--nolog",
                "-c",
                "response.request.headers['User-Agent']",
                f"{url}/",
            ],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert shell.returncode == 0, shell.stderr[-3000:]
        assert "Chrome/150" in shell.stdout  # the middleware's browser headers
    finally:
        site.shutdown()


def test_fingerprints_spider_sees_each_profiles_ja4() -> None:
    seen = {item["profile"]: item for item in run_demo("fingerprints")}
    # The demo site's own JA4 (example_project/fingerprint.py) gives the
    # published values that tests/handler/test_fingerprints.py checks with the Go server.
    assert seen["chrome_150"]["ja4"] == "t13d1516h2_8daaf6152771_806a8c22fdea"
    assert seen["safari_ios_18_5"]["ja4"] == "t13d2014h2_a09f3c656075_e42f34c56612"
    assert "Firefox/135.0" in seen["firefox_135"]["user_agent"]
