"""A source checkout without its built library, imported instead of the
installed package (Python started in the repository root after ``pip
install .``): one short error naming the cause and the way out, and the
crawl stops at start (the real ``scrapy crawl`` and ``python -c``, against a
copy of the package without the library in a temporary directory)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scrapy_tlsclient

INSTALLED = Path(scrapy_tlsclient.__file__).resolve().parent
REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "classic": "twisted.internet.selectreactor.SelectReactor",
}
SPIDER = """
import scrapy


class Spider(scrapy.Spider):
    name = "shadowed"
    # Nothing listens on the discard port: a request that went out would fail loudly.
    start_urls = ["http://127.0.0.1:9/"]

    def parse(self, response):
        pass
"""
#: A log record starts with a timestamp; the lines up to the next one are its message.
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def checkout(root: Path) -> Path:
    """A copy of the package source with no built library, as in a fresh clone."""
    package = root / "scrapy_tlsclient"
    shutil.copytree(INSTALLED, package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    assert not (package / "_lib" / "libtlsclient.so").exists()
    return package


def error_record(output: str) -> list[str]:
    """The lines of the one scrapy_tlsclient ERROR record in a log."""
    lines = output.splitlines()
    starts = [n for n, line in enumerate(lines) if "[scrapy_tlsclient] ERROR:" in line]
    assert len(starts) == 1, output[-4000:]
    record = [lines[starts[0]]]
    for line in lines[starts[0] + 1 :]:
        if RECORD_START.match(line):
            break
        record.append(line)
    return record


def assert_names_cause_and_way_out(message: str, package: Path) -> None:
    assert f"Python imported the source checkout {package}" in message
    assert f"instead of the installed package {INSTALLED}" in message
    assert f"Run from a directory other than {package.parent}" in message
    assert "pip install -e ." in message


@pytest.mark.parametrize("middleware", [True, False], ids=["with-middleware", "handler-only"])
@pytest.mark.parametrize("reactor", sorted(REACTORS))
def test_crawl_from_a_checkout_without_library_stops_with_one_short_message(
    tmp_path: Path, reactor: str, middleware: bool
) -> None:
    package = checkout(tmp_path)
    # `scrapy crawl` puts the project directory, here the checkout's root, first on sys.path.
    (tmp_path / "scrapy.cfg").write_text("[settings]\ndefault = demo.settings\n")
    (tmp_path / "demo" / "spiders").mkdir(parents=True)
    (tmp_path / "demo" / "__init__.py").write_text("")
    (tmp_path / "demo" / "spiders" / "__init__.py").write_text("")
    (tmp_path / "demo" / "spiders" / "shadowed.py").write_text(SPIDER)
    settings = [
        'SPIDER_MODULES = ["demo.spiders"]',
        'DOWNLOAD_HANDLERS = {"http": "scrapy_tlsclient.TLSClientDownloadHandler",'
        ' "https": "scrapy_tlsclient.TLSClientDownloadHandler"}',
        f"TWISTED_REACTOR = {REACTORS[reactor]!r}",
        "TELNETCONSOLE_ENABLED = False",
    ]
    if middleware:
        settings.append('DOWNLOADER_MIDDLEWARES = {"scrapy_tlsclient.TLSClientMiddleware": 950}')
    (tmp_path / "demo" / "settings.py").write_text("\n".join(settings) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "shadowed"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    record = error_record(result.stderr)
    assert len(record) <= 5, record
    assert_names_cause_and_way_out("\n".join(record), package)
    # Logged once; no traceback of the library error (the handler is not
    # loaded for each scheme with its own traceback) and no request sent.
    assert result.stderr.count("Python imported the source checkout") == 1, result.stderr[-4000:]
    assert "NativeLibraryError" not in result.stderr
    if reactor == "asyncio":
        # The loop's report of the crawl that could not start (asyncio's
        # "Task exception was never retrieved", some 30 lines) is left out.
        assert "Traceback" not in result.stderr, result.stderr[-4000:]
    else:
        # Twisted prints "Unhandled error in Deferred" to stderr itself,
        # past logging (docs/troubleshooting.rst).
        assert "scrapy_tlsclient cannot start with these settings or this installation" in result.stderr
    assert "Spider opened" not in result.stderr
    assert "Error downloading" not in result.stderr


def test_library_call_from_a_checkout_without_library_names_cause_and_way_out(tmp_path: Path) -> None:
    package = checkout(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "import scrapy_tlsclient; scrapy_tlsclient.binding.get_library()"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    (last,) = [n for n, line in enumerate(result.stderr.splitlines()) if "NativeLibraryError:" in line]
    message = "\n".join(result.stderr.splitlines()[last:])
    assert len(message.splitlines()) <= 5, message
    assert_names_cause_and_way_out(message, package)
