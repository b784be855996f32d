"""Progress of a long ``body_file`` download, in the log.

A download that runs longer than the interval logs one INFO line per
interval: bytes done, of how many when the size is known, and the rate
since the previous line. Short downloads log nothing.
"""

from __future__ import annotations

import logging
import time

__all__ = ["DownloadProgress"]

logger = logging.getLogger("scrapy_tlsclient")

MIB = 1 << 20


class DownloadProgress:
    """Call :meth:`update` with the bytes done so far, as often as wanted."""

    def __init__(self, url: str, target: str, total: int | None, interval: float, *, start: int = 0) -> None:
        self._url = url
        self._target = target
        self._total = total
        self._interval = interval
        self._last_time = time.monotonic()
        #: A resumed download starts at the bytes kept from before.
        self._last_done = start

    def update(self, done: int) -> None:
        if self._interval <= 0:
            return
        now = time.monotonic()
        elapsed = now - self._last_time
        if elapsed < self._interval:
            return
        rate = (done - self._last_done) / elapsed / MIB
        self._last_time, self._last_done = now, done
        logger.info(
            "Downloading %s to %s: %s, %.1f MiB/s", self._url, self._target, self.describe(done), rate
        )

    def describe(self, done: int) -> str:
        if self._total:
            return f"{done / MIB:.1f} of {self._total / MIB:.1f} MiB ({100 * done / self._total:.0f}%)"
        return f"{done / MIB:.1f} MiB"
