"""Where a ``body_file`` download writes (scrapy/scrapy#7987 semantics).

The ``body_file`` request meta key is a path or a writable binary file
object; the body goes there instead of ``response.body``. An attempt
starts the file over (unless it resumes kept bytes), and nothing
half-written is ever taken for complete:
a path gets the body under a temporary name beside it, moved into place
only when the body is complete, and removed on a failure (or kept, under
that temporary name, for the retry to resume: ``_resume_store``); a file
object is truncated at the start and again on failure.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "BodySink",
    "Tag",
    "body_sink_for",
    "check_body_file",
    "forget_partial",
    "own_tag",
    "process_tag",
    "tag_of",
    "track_partial",
]


class BodySink:
    """One attempt's destination: ``write``, then ``commit`` or ``discard``."""

    def __init__(self, file: IO[bytes], final: Path | None, partial: Path | None) -> None:
        self._file = file
        self._final = final
        self._partial = partial
        self.written = 0
        #: Bytes already in the file from earlier attempts (a resume).
        self.offset = 0

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
            _LIVE_PARTIALS.discard(self._partial)

    def keep(self) -> None:
        """The attempt failed after bytes worth resuming: close the file,
        leaving it under its temporary name for the next attempt."""
        self._file.flush()
        self._file.close()

    def discard(self) -> None:
        """The attempt failed: leave nothing that looks like a body."""
        if self._partial is not None:
            self._file.close()
            self._partial.unlink(missing_ok=True)
            _LIVE_PARTIALS.discard(self._partial)
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.flush()


@dataclass(frozen=True)
class Tag:
    """Whose temporary file a name is: ``PID.PIDNS@HOST``. The PID
    namespace tells apart containers that share a host name (host
    networking) and so may share PIDs too: without it, one container's exit
    sweep took another's files, and its stale-file sweep judged PIDs it
    cannot see as dead."""

    pid: int
    namespace: str
    host: str

    def __str__(self) -> str:
        return f"{self.pid}.{self.namespace}@{self.host}"


def _pid_namespace() -> str:
    """The PID namespace's inode number on Linux, ``0`` where there is none."""
    try:
        link = os.readlink("/proc/self/ns/pid")  # pid:[4026531836]
    except OSError:
        return "0"
    return link.partition("[")[2].rstrip("]") or "0"


#: This machine's name with anything but letters, digits and dots as ``_``
#: (the host part has no ``-``, which ends the tag).
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"
_PID_NAMESPACE = _pid_namespace()

#: A temporary name's tag: a pipeline file (``TAG-HEX``) or a partial body
#: (``.NAME.part-TAG-HEX``).
_TAGGED_NAME = re.compile(r"(?:^|\.part-)(\d+)\.(\d+)@([A-Za-z0-9._]+)-[0-9a-f]+$")


def own_tag() -> Tag:
    return Tag(os.getpid(), _PID_NAMESPACE, _HOST)


def process_tag() -> str:
    """This process's tag, for temporary file names."""
    return str(own_tag())


def tag_of(name: str) -> Tag | None:
    """The tag of a temporary file name, or None for any other name."""
    match = _TAGGED_NAME.search(name)
    return Tag(int(match.group(1)), match.group(2), match.group(3)) if match else None


#: Partial bodies of this process not committed or discarded yet: removed at
#: exit, so a forced stop (a second Ctrl-C) leaves no hidden partial files.
_LIVE_PARTIALS: set[Path] = set()
_atexit_lock = threading.Lock()
_atexit_registered = False


def _remove_live_partials() -> None:
    for path in list(_LIVE_PARTIALS):
        path.unlink(missing_ok=True)
    _LIVE_PARTIALS.clear()


def forget_partial(path: Path) -> None:
    """``path`` is no longer this process's to remove at exit (committed,
    removed, or kept for a later run)."""
    _LIVE_PARTIALS.discard(path)


def track_partial(path: Path) -> None:
    global _atexit_registered
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_remove_live_partials)
            _atexit_registered = True
    _LIVE_PARTIALS.add(path)


def check_body_file(value: Any) -> None:
    """Refuse a ``body_file`` meta value that could not take a body, before
    anything is requested: ValueError naming the key."""
    where = "The 'body_file' request meta key"
    if isinstance(value, (str, os.PathLike)):
        final = Path(value)
        if not str(value) or not final.name:
            raise ValueError(f"{where} must name a file, got {value!r}")
        if not final.parent.is_dir():
            raise ValueError(f"{where}: directory {str(final.parent)!r} does not exist")
        if final.is_dir():
            raise ValueError(f"{where}: {str(final)!r} is a directory, not a file")
        if final.is_symlink() or (final.exists() and not final.is_file()):
            # The body replaces what the path names (a rename): that must
            # never be /dev/null, a FIFO or what a link points at.
            kind = (
                "a symbolic link" if final.is_symlink() else "not a regular file (a device, FIFO or socket)"
            )
            raise ValueError(
                f"{where}: {str(final)!r} is {kind}; body_file takes a regular file or a new path, "
                "which the finished body replaces"
            )
        if not os.access(final.parent, os.W_OK | os.X_OK):
            raise ValueError(f"{where}: directory {str(final.parent)!r} is not writable")
        longest = _name_max(final.parent) - _PARTIAL_EXTRA
        if len(os.fsencode(final.name)) > longest:
            raise ValueError(
                f"{where}: the file name {final.name!r} is too long: the body is written beside it under a "
                f"temporary name {_PARTIAL_EXTRA} bytes longer, and this file system allows "
                f"{longest + _PARTIAL_EXTRA}"
            )
        return
    if callable(getattr(value, "write", None)) and callable(getattr(value, "truncate", None)):
        if isinstance(value, io.TextIOBase) or "b" not in getattr(value, "mode", "b"):
            raise ValueError(f"{where} must be a binary file object, got text file {value!r}")
        if not _answers(value, "writable") or not _answers(value, "seekable"):
            raise ValueError(
                f"{where} must be a writable, seekable binary file object (each attempt starts it over), "
                f"got {value!r}"
            )
        return
    raise ValueError(
        f"{where} must be a path (str or os.PathLike) or a writable, seekable binary file object, "
        f"got {value!r}"
    )


#: What the temporary name adds to the file's: ".", ".part-", the tag
#: (PID.PIDNS@HOST) and "-" with 8 hex digits.
_PARTIAL_EXTRA = len(f"..part-{Tag(2**22, _PID_NAMESPACE, _HOST)}-") + 8


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _answers(value: Any, question: str) -> bool:
    """What a file object says of itself; one that cannot say is taken at
    its word that it can (its write and truncate methods are there)."""
    method = getattr(value, question, None)
    try:
        return bool(method()) if callable(method) else True
    except (OSError, ValueError):
        return False


def body_sink_for(value: Any) -> BodySink:
    """Open the ``body_file`` meta value for one attempt (checked again:
    the directory may have gone since the request was sent)."""
    check_body_file(value)
    if isinstance(value, (str, os.PathLike)):
        final = Path(value)
        partial = final.with_name(f".{final.name}.part-{process_tag()}-{secrets.token_hex(4)}")
        sink = BodySink(open(partial, "xb"), final, partial)  # noqa: SIM115 (the sink closes it)
        track_partial(partial)
        return sink
    value.seek(0)
    value.truncate()
    return BodySink(value, None, None)
