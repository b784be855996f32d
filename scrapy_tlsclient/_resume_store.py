"""Where the bytes of a cut ``body_file`` download wait for the retry.

A body_file path's download that fails after some bytes keeps them under a
temporary name beside the target, with a record of what they are (URL,
validator, size of the whole file, attempts). The record lives in memory
for the crawl (the partial file is then removed at the handler's close, and
at the process's exit if it is stopped by force), or, with JOBDIR or
``TLS_CLIENT_RESUME_DIR``, as a small JSON file in that directory, so that
the next run resumes it; records older than ``TLS_CLIENT_RESUME_MAX_AGE``
are removed with their partial files when a handler starts.

A partial file is locked (``flock``) while an attempt uses it: a second
download of the same URL to the same path, in this process or another,
takes an ordinary temporary file instead of sharing it.

Every method does file I/O: the handler runs them off the reactor thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._body_file import BodySink, body_sink_for, forget_partial, process_tag, track_partial
from ._resume import Answer, range_headers

if TYPE_CHECKING:
    from ._resume import Resumability
    from ._tail_hash import HashState

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["PartialRecord", "ResumeAttempt", "ResumeStore", "is_persistent_partial"]

#: A partial file kept between runs: ``.NAME.resume-KEY`` (no process tag:
#: the sweeps of dead processes' files leave it alone).
_PERSISTENT_NAME = re.compile(r"^\..+\.resume-[0-9a-f]{16}$")


def is_persistent_partial(name: str) -> bool:
    return _PERSISTENT_NAME.match(name) is not None


@dataclass
class PartialRecord:
    """What the kept bytes of one download are."""

    url: str
    final: str
    partial: str
    #: The If-Range value: the strong ETag, else the Last-Modified date.
    validator: str
    #: The whole file's size, when the server said.
    total: int | None
    #: Requests whose answers went into this file so far.
    attempts: int = 1
    #: Answers appended to kept bytes, and the bytes they did not fetch again.
    resumes: int = 0
    resumed_bytes: int = 0
    #: The digest of the kept bytes so far, in memory only (a hash object
    #: cannot be saved): the retry hashes on from there instead of
    #: reading the kept bytes again.
    hash_state: HashState | None = field(default=None, repr=False, compare=False)


@dataclass
class ResumeAttempt:
    """One download of a body_file path: what it asks for and what it got."""

    key: str
    url: str
    final: Path
    #: The kept bytes this attempt asks the rest of; None: none.
    record: PartialRecord | None = None
    #: Size of the kept bytes (the Range start); 0: none.
    offset: int = 0
    #: Attempts of this file before this one, whose bytes were dropped (a
    #: start over) or are kept (the record's count).
    attempts_before: int = 0
    #: The locked partial file, while this attempt holds it.
    file: IO[bytes] | None = field(default=None, repr=False)
    #: What the answer meant, once it came.
    answer: Answer | None = None
    #: The record of the bytes this attempt is writing, when they may be kept.
    writing: PartialRecord | None = None

    def request_headers(self) -> dict[str, str]:
        if self.record is None or not self.offset:
            return {}
        return range_headers(self.offset, self.record.validator)

    @property
    def attempts(self) -> int:
        return self.writing.attempts if self.writing is not None else self.attempts_before + 1

    def hash_state(self, algorithm: str) -> HashState | None:
        """The hash of the kept bytes this attempt appends to, if kept."""
        if self.answer is not Answer.APPEND or self.writing is None:
            return None
        state = self.writing.hash_state
        return (
            state
            if state is not None and state.algorithm == algorithm and state.done <= self.offset
            else None
        )

    @property
    def resumed_bytes(self) -> int:
        return self.writing.resumed_bytes if self.writing is not None else 0


class _PartialSink(BodySink):
    """A sink on a locked partial file: the rename (or removal) happens
    while the lock is held, so no other download can open the file between
    its last byte and its new name."""

    def __init__(self, file: IO[bytes], final: Path, partial: Path, offset: int) -> None:
        super().__init__(file, final, partial)
        self.offset = offset

    def commit(self) -> None:
        assert self._final is not None and self._partial is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        os.replace(self._partial, self._final)
        self._file.close()
        forget_partial(self._partial)

    def discard(self) -> None:
        assert self._partial is not None
        self._partial.unlink(missing_ok=True)
        self._file.close()
        forget_partial(self._partial)


class ResumeStore:
    """The records of kept partial files of one handler."""

    def __init__(self, directory: str | None, max_age: float) -> None:
        self._directory = Path(directory) if directory is not None else None
        self._max_age = max_age
        #: The records (without a directory), or the records this process
        #: saved (with one: their hash states, which are not saved).
        self._memory: dict[str, PartialRecord] = {}
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._sweep_stale()

    @property
    def persistent(self) -> bool:
        return self._directory is not None

    # -- one attempt ----------------------------------------------------------

    def begin(self, url: str, body_file: str | os.PathLike[str]) -> ResumeAttempt:
        """The attempt's view: the kept bytes of this URL for this path, if
        any may be resumed, locked for this attempt."""
        final = Path(body_file).absolute()
        key = hashlib.sha256(f"{final}\n{url}".encode("utf-8", "surrogateescape")).hexdigest()[:32]
        attempt = ResumeAttempt(key, url, final)
        record = self._load(key)
        if record is None:
            return attempt
        attempt.attempts_before = record.attempts
        partial = Path(record.partial)
        if record.url != url or partial.parent != final.parent or partial != self._partial_path(final, key):
            self._forget(key, None)
            return attempt
        file = _open_locked(partial, create=False)
        if file is None:
            # Another download holds it, or it is gone.
            if not partial.exists():
                self._forget(key, None)
            return attempt
        size = os.fstat(file.fileno()).st_size
        if size == 0 or (record.total is not None and size >= record.total):
            # Nothing to ask for (a complete body is never left partial:
            # such a file was cut in its rename): start over.
            file.close()
            self._forget(key, partial)
            return attempt
        attempt.record, attempt.offset, attempt.file = record, size, file
        return attempt

    def start_over(self, attempt: ResumeAttempt) -> None:
        """The answer to the range request cannot complete the kept bytes
        (or replaces them): drop them; the attempt goes on as a fresh one."""
        if attempt.record is not None:
            self._forget(attempt.key, Path(attempt.record.partial), attempt.file)
            attempt.attempts_before = attempt.record.attempts
        attempt.record, attempt.offset, attempt.file = None, 0, None

    def open_sink(self, attempt: ResumeAttempt, resumable: Resumability) -> BodySink:
        """The sink for this attempt's body: the kept bytes to append to
        (answer APPEND), a partial file that may be kept if the body is
        cut (a resumable answer), or an ordinary temporary file."""
        if attempt.answer is Answer.APPEND and attempt.record is not None and attempt.file is not None:
            record = attempt.record
            record.attempts += 1
            record.resumes += 1
            record.resumed_bytes += attempt.offset
            attempt.writing = record
            self._save(attempt.key, record)
            kept, attempt.file = attempt.file, None
            kept.truncate(attempt.offset)
            kept.seek(attempt.offset)
            return _PartialSink(kept, attempt.final, Path(record.partial), attempt.offset)
        if attempt.record is not None:
            # This answer is no part of the kept bytes (another status):
            # they stay for a later attempt, this body goes elsewhere.
            self.release(attempt)
            return body_sink_for(attempt.final)
        if resumable.validator is None:
            return body_sink_for(attempt.final)
        partial = self._partial_path(attempt.final, attempt.key)
        file = _open_locked(partial, create=True)
        if file is None:
            return body_sink_for(attempt.final)
        file.truncate(0)
        record = PartialRecord(
            url=attempt.url,
            final=str(attempt.final),
            partial=str(partial),
            validator=resumable.validator,
            total=resumable.total,
            attempts=attempt.attempts_before + 1,
        )
        attempt.writing = record
        self._save(attempt.key, record)
        if not self.persistent:
            track_partial(partial)
        return _PartialSink(file, attempt.final, partial, 0)

    def keep(self, attempt: ResumeAttempt, sink: BodySink) -> bool:
        """The attempt failed: keep what the sink holds for the retry when
        it is resumable bytes; otherwise discard it. True when kept."""
        record = attempt.writing
        if record is None or not isinstance(sink, _PartialSink) or sink.offset + sink.written <= 0:
            sink.discard()
            if record is not None:
                self._forget(attempt.key, None)
            return False
        sink.keep()
        self._save(attempt.key, record)  # its time is the age the sweep judges
        return True

    def finished(self, attempt: ResumeAttempt) -> None:
        """The file is committed (or the attempt discarded): its record goes."""
        if attempt.writing is not None:
            self._forget(attempt.key, None)
        self.release(attempt)

    def discarded(self, attempt: ResumeAttempt) -> None:
        self.finished(attempt)

    def release(self, attempt: ResumeAttempt) -> None:
        """Unlock kept bytes this attempt did not use."""
        if attempt.file is not None:
            attempt.file.close()
            attempt.file = None

    # -- the crawl's end --------------------------------------------------------

    def close(self) -> None:
        """Without a directory, kept partial files end with the crawl."""
        if self.persistent:
            return
        for key, record in list(self._memory.items()):
            self._forget(key, Path(record.partial))

    # -- records ----------------------------------------------------------------

    def _partial_path(self, final: Path, key: str) -> Path:
        if self.persistent:
            return final.with_name(f".{final.name}.resume-{key[:16]}")
        # The process's tag, as any temporary body file: the exit sweep and
        # the stale sweep of dead processes' files take it.
        return final.with_name(f".{final.name}.part-{process_tag()}-{key[:8]}")

    def _record_path(self, key: str) -> Path:
        assert self._directory is not None
        return self._directory / f"{key}.json"

    def _load(self, key: str) -> PartialRecord | None:
        if self._directory is None:
            return self._memory.get(key)
        try:
            data: Any = json.loads(self._record_path(key).read_text("utf-8"))
            record = PartialRecord(**data)
            known = self._memory.get(key)
            if known is not None and known == record:
                # This process wrote it: the hash state (not saved) too.
                record.hash_state = known.hash_state
            return record
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("Ignoring unreadable resume record %s: %s", self._record_path(key), exc)
            self._record_path(key).unlink(missing_ok=True)
            return None

    def _save(self, key: str, record: PartialRecord) -> None:
        self._memory[key] = record
        if self._directory is None:
            return
        path = self._record_path(key)
        temporary = path.with_name(f"{path.name}.{process_tag()}.tmp")
        saved = asdict(record)
        del saved["hash_state"]
        temporary.write_text(json.dumps(saved), "utf-8")
        os.replace(temporary, path)

    def _forget(self, key: str, partial: Path | None, file: IO[bytes] | None = None) -> None:
        """Drop a record, and its partial file when given (removed while
        ``file``, its lock, is still held)."""
        if partial is not None:
            partial.unlink(missing_ok=True)
            forget_partial(partial)
        if file is not None:
            file.close()
        self._memory.pop(key, None)
        if self._directory is not None:
            self._record_path(key).unlink(missing_ok=True)

    def _sweep_stale(self) -> None:
        """Remove records (and their partial files) not touched for longer
        than the maximum age, and records whose partial file is gone."""
        assert self._directory is not None
        now = time.time()
        for path in self._directory.iterdir():
            if path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > 3600:
                        path.unlink()
                continue
            if not path.name.endswith(".json"):
                continue
            try:
                age = now - path.stat().st_mtime
                record = PartialRecord(**json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)
                continue
            partial = Path(record.partial)
            if age > self._max_age or not partial.exists():
                if is_persistent_partial(partial.name):
                    # Never a file this package did not name itself.
                    partial.unlink(missing_ok=True)
                path.unlink(missing_ok=True)
                logger.info("Removed a stale partial download of %s (%s)", record.url, partial)


def _open_locked(path: Path, *, create: bool) -> IO[bytes] | None:
    """``path`` opened for reading and writing with an exclusive lock, or
    None when another download holds it, or it cannot be opened (without
    ``create``: when it does not exist); the download then goes on without
    resuming, in an ordinary temporary file."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return os.fdopen(fd, "r+b")
