"""Where a ``body_file`` download writes (scrapy/scrapy#7987 semantics).

The ``body_file`` request meta key is a path or a writable binary file
object; the body goes there instead of ``response.body``. Each attempt
starts the file over, and nothing half-written is ever taken for complete:
a path gets the body under a temporary name beside it, moved into place
only when the body is complete, and removed on any failure; a file object
is truncated at the start and again on failure.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import IO, Any

__all__ = ["BodySink", "body_sink_for"]


class BodySink:
    """One attempt's destination: ``write``, then ``commit`` or ``discard``."""

    def __init__(self, file: IO[bytes], final: Path | None, partial: Path | None) -> None:
        self._file = file
        self._final = final
        self._partial = partial
        self.written = 0

    @property
    def target(self) -> str:
        return str(self._final) if self._final is not None else repr(self._file)

    @property
    def library_path(self) -> str | None:
        """Where the library may append the body itself: the temporary file
        of a path target (a file object has no path it could open)."""
        return str(self._partial) if self._partial is not None else None

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.written += len(data)

    def hand_over(self) -> None:
        """Flush what was written here, before the library appends."""
        self._file.flush()

    def appended(self, count: int) -> None:
        """The library appended ``count`` bytes to :attr:`library_path`."""
        self.written += count

    def commit(self) -> None:
        """The body is complete: make it visible under its final name."""
        self._file.flush()
        if self._partial is not None and self._final is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self._final)

    def discard(self) -> None:
        """The attempt failed: leave nothing that looks like a body."""
        if self._partial is not None:
            self._file.close()
            self._partial.unlink(missing_ok=True)
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.flush()


def body_sink_for(value: Any) -> BodySink:
    """Open the ``body_file`` meta value for one attempt; ValueError if it
    is neither a path nor a writable binary file object."""
    if isinstance(value, (str, os.PathLike)):
        final = Path(value)
        if not final.parent.is_dir():
            raise ValueError(
                f"The 'body_file' request meta key: directory {str(final.parent)!r} does not exist"
            )
        partial = final.with_name(f".{final.name}.part-{os.getpid()}-{secrets.token_hex(4)}")
        return BodySink(open(partial, "xb"), final, partial)
    if callable(getattr(value, "write", None)) and callable(getattr(value, "truncate", None)):
        if isinstance(value, io.TextIOBase) or "b" not in getattr(value, "mode", "b"):
            raise ValueError(
                f"The 'body_file' request meta key must be a binary file object, got text file {value!r}"
            )
        value.seek(0)
        value.truncate()
        return BodySink(value, None, None)
    raise ValueError(
        "The 'body_file' request meta key must be a path (str or os.PathLike) or a writable, seekable "
        f"binary file object, got {value!r}"
    )
