"""The range rules of _resume, without the library: which answers are
resumable, what a range request carries, and what each answer means."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scrapy_tlsclient._resume import (
    Answer,
    ContentRange,
    classify_answer,
    content_range,
    range_headers,
    resumability,
    strong_validator,
)

ETAG = '"5f1c-61a8b3c0"'
DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


def test_content_range_parsing() -> None:
    assert content_range("bytes 10-99/100") == ContentRange(10, 99, 100)
    assert content_range("BYTES 0-0/*") == ContentRange(0, 0, None)
    assert content_range("bytes */100") is None  # the unsatisfied form
    assert content_range("bytes 10-99/50") is None  # past the total
    assert content_range("bytes 20-10/100") is None
    assert content_range("items 0-1/2") is None
    assert content_range(None) is None


def test_the_validator_is_the_strong_etag_else_the_date() -> None:
    assert strong_validator({"etag": ETAG, "last-modified": DATE}) == ETAG
    assert strong_validator({"etag": 'W/"weak"', "last-modified": DATE}) == DATE
    assert strong_validator({"etag": 'W/"weak"'}) is None
    assert strong_validator({}) is None


def test_what_may_be_kept() -> None:
    announced = {"accept-ranges": "bytes", "etag": ETAG, "content-length": "1000"}
    assert resumability(200, announced, ranges_answered=False).validator == ETAG
    assert resumability(200, announced, ranges_answered=False).total == 1000
    silent = {"etag": ETAG, "content-length": "1000"}
    assert resumability(200, silent, ranges_answered=False).validator is None
    assert resumability(200, silent, ranges_answered=True).validator == ETAG
    assert resumability(200, {**announced, "accept-ranges": "none"}, ranges_answered=False).validator is None
    # A coded body is stored decoded: a range of the coded bytes cannot
    # continue it.
    assert (
        resumability(200, {**announced, "content-encoding": "gzip"}, ranges_answered=False).validator is None
    )
    assert resumability(200, {**announced, "content-encoding": "identity"}, ranges_answered=False).validator
    assert resumability(404, announced, ranges_answered=False).validator is None
    appended = {"etag": ETAG, "content-range": "bytes 500-999/1000"}
    assert resumability(206, appended, ranges_answered=False) == resumability(
        206, appended, ranges_answered=True
    )
    assert resumability(206, appended, ranges_answered=False).total == 1000


def test_range_headers() -> None:
    assert range_headers(812646400, ETAG) == {"Range": "bytes=812646400-", "If-Range": ETAG}


def test_answers() -> None:
    rest = {"content-range": "bytes 500-999/1000", "content-length": "500"}
    assert classify_answer(206, rest, 500, 1000) is Answer.APPEND
    assert classify_answer(206, rest, 500, None) is Answer.APPEND
    assert classify_answer(200, {}, 500, 1000) is Answer.WHOLE
    assert classify_answer(416, {"content-range": "bytes */1000"}, 500, 1000) is Answer.START_OVER
    assert classify_answer(206, rest, 400, 1000) is Answer.START_OVER  # another start
    assert classify_answer(206, rest, 500, 1001) is Answer.START_OVER  # another total: another file
    assert classify_answer(206, {"content-range": "bytes 500-899/1000"}, 500, 1000) is Answer.START_OVER
    assert classify_answer(206, {**rest, "content-length": "499"}, 500, 1000) is Answer.START_OVER
    assert classify_answer(206, {**rest, "content-encoding": "gzip"}, 500, 1000) is Answer.START_OVER
    assert classify_answer(206, {}, 500, 1000) is Answer.START_OVER
    assert classify_answer(503, {}, 500, 1000) is Answer.NOT_THE_FILE
    assert classify_answer(302, {}, 500, 1000) is Answer.NOT_THE_FILE


@given(
    total=st.integers(min_value=2, max_value=1 << 40),
    data=st.data(),
)
def test_only_the_exact_rest_is_ever_appended(total: int, data: st.DataObject) -> None:
    """Whatever a 206 claims, APPEND means: it starts where the kept bytes
    end and runs to the end of the same file."""
    offset = data.draw(st.integers(min_value=1, max_value=total - 1))
    start = data.draw(st.sampled_from([offset, offset - 1, offset + 1, 0]))
    end = data.draw(st.sampled_from([total - 1, total - 2, total]))
    claimed_total = data.draw(st.sampled_from([total, total + 1, total - 1]))
    headers = {"content-range": f"bytes {start}-{end}/{claimed_total}"}
    answer = classify_answer(206, headers, offset, total)
    if answer is Answer.APPEND:
        assert (start, end, claimed_total) == (offset, total - 1, total)
    else:
        assert answer is Answer.START_OVER
