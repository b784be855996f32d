"""`scrapy crawl` with a misspelt TLS_CLIENT_PROFILE stops at start, with one
error line naming the setting and its close matches (the real command, in a
temporary project)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "classic": "twisted.internet.selectreactor.SelectReactor",
}

SPIDER = """
import scrapy


class Spider(scrapy.Spider):
    name = "misspelt"
    # Nothing listens on the discard port: a request that went out would fail loudly.
    start_urls = ["http://127.0.0.1:9/"]

    def parse(self, response):
        pass
"""


def crawl(project: Path, *, middleware: bool, reactor: str) -> subprocess.CompletedProcess[str]:
    (project / "demo" / "spiders").mkdir(parents=True)
    (project / "scrapy.cfg").write_text("[settings]\ndefault = demo.settings\n")
    (project / "demo" / "__init__.py").write_text("")
    (project / "demo" / "spiders" / "__init__.py").write_text("")
    (project / "demo" / "spiders" / "misspelt.py").write_text(SPIDER)
    settings = [
        'SPIDER_MODULES = ["demo.spiders"]',
        'DOWNLOAD_HANDLERS = {"http": "scrapy_tlsclient.TLSClientDownloadHandler",'
        ' "https": "scrapy_tlsclient.TLSClientDownloadHandler"}',
        'TLS_CLIENT_PROFILE = "chrome_15O"',
        f"TWISTED_REACTOR = {REACTORS[reactor]!r}",
        "TELNETCONSOLE_ENABLED = False",
    ]
    if middleware:
        settings.append('DOWNLOADER_MIDDLEWARES = {"scrapy_tlsclient.TLSClientMiddleware": 950}')
    (project / "demo" / "settings.py").write_text("\n".join(settings) + "\n")
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "misspelt"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def the_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "TLS_CLIENT_PROFILE" in line]
    assert len(lines) == 1, output[-4000:]
    expected = "[scrapy_tlsclient] ERROR: The TLS_CLIENT_PROFILE setting: unknown tls-client profile "
    assert expected in lines[0]
    assert "close matches: " in lines[0]
    assert "chrome_150" in lines[0]
    return lines[0]


@pytest.mark.parametrize("middleware", [True, False], ids=["with-middleware", "handler-only"])
@pytest.mark.parametrize("reactor", sorted(REACTORS))
def test_misspelt_profile_fails_the_crawl_command(tmp_path: Path, reactor: str, middleware: bool) -> None:
    """The documented activation (handler + TLSClientMiddleware) and the
    handler alone: non-zero exit before the spider opens, nothing sent."""
    result = crawl(tmp_path, middleware=middleware, reactor=reactor)
    assert result.returncode != 0
    the_error_line(result.stderr)
    if reactor == "asyncio":
        # The one line, without the loop's 30-line report of the stop.
        assert "Traceback" not in result.stderr, result.stderr[-4000:]
    else:
        assert "TLSClientSettingsError: scrapy_tlsclient cannot start with these settings" in result.stderr
    assert "Spider opened" not in result.stderr
    assert "Error downloading" not in result.stderr
