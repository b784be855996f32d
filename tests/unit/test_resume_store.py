"""ResumeStore on a real directory (no library): locking, records between
stores (runs), the stale sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

from scrapy_tlsclient._resume import Answer, Resumability
from scrapy_tlsclient._resume_store import ResumeStore

URL = "https://example.com/image.iso"
RESUMABLE = Resumability('"v1"', 1000)


def keep_bytes(store: ResumeStore, target: Path, data: bytes) -> None:
    """One attempt that writes ``data`` and is cut."""
    attempt = store.begin(URL, target)
    sink = store.open_sink(attempt, RESUMABLE)
    sink.write(data)
    assert store.keep(attempt, sink)


def test_kept_bytes_are_offered_to_the_next_attempt_and_locked_while_used(tmp_path: Path) -> None:
    store = ResumeStore(str(tmp_path / "records"), 3600)
    target = tmp_path / "image.iso"
    keep_bytes(store, target, b"x" * 400)
    first = store.begin(URL, target)
    assert first.offset == 400 and first.request_headers() == {"Range": "bytes=400-", "If-Range": '"v1"'}
    # While the first attempt holds the kept bytes, a second download of
    # the same URL to the same path gets none (it writes its own file).
    second = store.begin(URL, target)
    assert second.offset == 0 and second.record is None
    store.release(first)
    third = store.begin(URL, target)
    assert third.offset == 400
    store.release(third)
    # Another URL to the same path does not get them.
    assert store.begin("https://example.com/other.iso", target).offset == 0


def test_records_survive_the_store_and_append_completes_the_file(tmp_path: Path) -> None:
    records = tmp_path / "records"
    target = tmp_path / "image.iso"
    keep_bytes(ResumeStore(str(records), 3600), target, b"a" * 600)
    store = ResumeStore(str(records), 3600)  # the next run
    attempt = store.begin(URL, target)
    assert attempt.offset == 600 and attempt.attempts_before == 1
    attempt.answer = Answer.APPEND
    sink = store.open_sink(attempt, RESUMABLE)
    sink.write(b"b" * 400)
    sink.commit()
    store.finished(attempt)
    assert target.read_bytes() == b"a" * 600 + b"b" * 400
    assert attempt.attempts == 2 and attempt.resumed_bytes == 600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.iso", "records"]
    assert list(records.iterdir()) == []


def test_stale_records_go_with_their_files(tmp_path: Path) -> None:
    records = tmp_path / "records"
    target = tmp_path / "image.iso"
    keep_bytes(ResumeStore(str(records), 3600), target, b"x" * 10)
    (record,) = records.iterdir()
    long_ago = time.time() - 7200
    os.utime(record, (long_ago, long_ago))
    ResumeStore(str(records), 3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records"]
    assert list(records.iterdir()) == []


def test_without_a_directory_close_removes_the_kept_bytes(tmp_path: Path) -> None:
    store = ResumeStore(None, 3600)
    target = tmp_path / "image.iso"
    keep_bytes(store, target, b"x" * 10)
    (partial,) = tmp_path.iterdir()
    assert partial.name.startswith(".image.iso.part-")
    store.close()
    assert list(tmp_path.iterdir()) == []
