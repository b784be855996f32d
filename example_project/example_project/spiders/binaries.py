"""Files straight to disk, never held in memory.

The small files go through TLSFilesPipeline (ITEM_PIPELINES and FILES_STORE
in custom_settings), which stores them under FILES_STORE/full/ with their
MD5. The large one is a single download with the ``body_file`` meta key: it
goes to FILES_STORE/large/NAME as it arrives, the handler logs its progress,
and the spider logs its SHA-256 beside the one the site publishes.

    scrapy crawl binaries -a url=https://localhost:8443/files/

https://localhost:8443 is the example project's demo site: start it first
with ``python demo_site.py`` in example_project/ (docs/demo_site.rst), or
let ``python run_demo.py`` start it and run the spider. Any other site: ``-a url=...``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.utils.defer import deferred_to_future
from twisted.internet.threads import deferToThread

from example_project.files import FILES_SETTINGS

#: Bytes hashed at a time: the file is never read into memory whole.
HASH_PIECE = 1 << 20


SETTINGS = {
    **FILES_SETTINGS,
    # A progress line every half second for a download that takes longer.
    "TLS_CLIENT_PROGRESS_INTERVAL": 0.5,
}


def sha256_of(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while piece := file.read(HASH_PIECE):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


class BinariesSpider(scrapy.Spider):
    name = "binaries"
    custom_settings = SETTINGS
    url = ""

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.url:
            raise ValueError("give the downloads page: scrapy crawl binaries -a url=...")
        yield scrapy.Request(self.url)

    def parse(self, response: scrapy.http.Response) -> Iterator[Any]:
        # One item per small file; the pipeline downloads and stores it.
        for href in response.css("a.file::attr(href)").getall():
            yield {"name": href.rsplit("/", 1)[-1], "file_urls": [response.urljoin(href)]}
        for link in response.css("a.large"):
            href = link.attrib["href"]
            target = Path(self.settings["FILES_STORE"], "large").resolve() / href.rsplit("/", 1)[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            yield scrapy.Request(
                response.urljoin(href),
                callback=self.stored,
                # A large file is expected here: no "larger than download warn size" warning.
                meta={"body_file": str(target), "download_warnsize": 0},
                cb_kwargs={"target": target, "published": link.attrib["data-sha256"]},
            )

    async def stored(self, response: scrapy.http.Response, target: Path, published: str) -> None:
        # The body is in the file, complete (response.body stays empty);
        # hashing 256 MiB takes a second, off the reactor thread. No item:
        # TLSFilesPipeline would add an empty "files" field to it.
        sha256, size = await deferred_to_future(deferToThread(sha256_of, target))
        verdict = "matches the site's SHA256SUMS" if sha256 == published else f"EXPECTED {published}"
        self.logger.info("Stored %s: %d bytes, SHA-256 %s (%s)", target, size, sha256, verdict)
