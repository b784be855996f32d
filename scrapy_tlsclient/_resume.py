"""Resuming a ``body_file`` download: the range request and what its answer
means (pure: headers in, decisions out; no I/O).

A download manager's rules (RFC 9110 14 and 13.1.5): ask for the rest with
``Range: bytes=N-`` and ``If-Range`` holding the strong ``ETag`` (else the
``Last-Modified`` date) the kept bytes came with. The server answers

- ``206`` with ``Content-Range: bytes N-END/TOTAL``, the same total, and no
  content coding: the rest of the same file, appended;
- ``200``: the range was ignored or the file changed (``If-Range`` failed):
  the whole new file, which replaces the kept bytes;
- ``416``, a ``206`` for another range or total, or a coded ``206``: the
  kept bytes cannot be completed from this answer; they are dropped and the
  request sent again without ``Range``.

Only bytes of an identity-coded body are kept for resuming: a range of a
gzip or br body is a range of the coded bytes, which the decoded file on
disk cannot be continued with.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Answer",
    "ContentRange",
    "Resumability",
    "classify_answer",
    "content_range",
    "range_headers",
    "resumability",
    "strong_validator",
]


class Answer(enum.Enum):
    """What the answer to a range request means for the kept bytes."""

    #: 206 for exactly the asked range of the same file: append.
    APPEND = "append"
    #: 200: the whole (possibly new) file; the kept bytes are replaced.
    WHOLE = "whole"
    #: 416, a 206 for another range, total or coding: drop the kept bytes
    #: and ask again without Range.
    START_OVER = "start_over"
    #: Any other status (404, 500, ...): not the file; keep the bytes for
    #: a later attempt, write this answer's body as any other.
    NOT_THE_FILE = "not_the_file"


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive, as written
    total: int | None  # None: "*", the server does not say


#: ``bytes START-END/TOTAL`` or ``bytes START-END/*`` (RFC 9110 14.4).
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def content_range(value: str | None) -> ContentRange | None:
    """The satisfied range of a ``Content-Range`` value; None when absent,
    malformed, or the unsatisfied form (``bytes */TOTAL``)."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if end < start or (total is not None and end >= total):
        return None
    return ContentRange(start, end, total)


def _identity(headers: Mapping[str, str]) -> bool:
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
    return all(c in ("", "identity") for c in codings)


def strong_validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` may carry for this response: its strong ``ETag``,
    else its ``Last-Modified`` date; a weak ETag (``W/``) may not be used
    (RFC 9110 13.1.5), so then only the date is left."""
    etag = headers.get("etag", "").strip()
    if etag.startswith('"') and etag.endswith('"') and len(etag) >= 2:
        return etag
    modified = headers.get("last-modified", "").strip()
    return modified or None


@dataclass(frozen=True)
class Resumability:
    """Whether the body of a response may be kept when cut, and what to
    resume it with."""

    #: The If-Range value; None: not resumable.
    validator: str | None
    #: The whole file's size when known (Content-Length of a 200, the
    #: total of a Content-Range).
    total: int | None


def resumability(status: int, headers: Mapping[str, str], *, ranges_answered: bool) -> Resumability:
    """Can the body of this answer (200, or an appended 206) be resumed
    after a cut? Only when the server takes byte ranges (it announced
    ``Accept-Ranges: bytes``, or answered a range before:
    ``ranges_answered``), the body is identity-coded, and there is a
    validator to make sure the rest is of the same file."""
    total: int | None = None
    if status == 200:
        length = headers.get("content-length", "").strip()
        total = int(length) if length.isdigit() else None
    elif status == 206:
        answered = content_range(headers.get("content-range"))
        total = answered.total if answered else None
        ranges_answered = ranges_answered or answered is not None
    else:
        return Resumability(None, None)
    accepts = "bytes" in [u.strip().lower() for u in headers.get("accept-ranges", "").split(",")]
    if not (accepts or ranges_answered) or not _identity(headers):
        return Resumability(None, total)
    return Resumability(strong_validator(headers), total)


def range_headers(offset: int, validator: str) -> dict[str, str]:
    """The headers asking for the rest from ``offset``."""
    return {"Range": f"bytes={offset}-", "If-Range": validator}


def classify_answer(status: int, headers: Mapping[str, str], offset: int, total: int | None) -> Answer:
    """What the answer to ``Range: bytes=offset-`` means, ``total`` being
    the file's size when the kept bytes were fetched (None: unknown)."""
    if status == 200:
        return Answer.WHOLE
    if status == 416:
        return Answer.START_OVER
    if status != 206:
        return Answer.NOT_THE_FILE
    answered = content_range(headers.get("content-range"))
    if answered is None or answered.start != offset or not _identity(headers):
        return Answer.START_OVER
    if total is not None and answered.total is not None and answered.total != total:
        return Answer.START_OVER
    if answered.total is not None and answered.end != answered.total - 1:
        # Not the rest of the file (we asked for everything from offset).
        return Answer.START_OVER
    length = headers.get("content-length", "").strip()
    if length.isdigit() and int(length) != answered.end - answered.start + 1:
        return Answer.START_OVER
    return Answer.APPEND
