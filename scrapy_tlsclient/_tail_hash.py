"""A digest of a ``body_file`` computed while it downloads.

The library appends the body to the temporary file itself; a checksum
computed after the last byte (``TLSFilesPipeline``'s MD5) read the whole
file again: 1.7 to 2.4 s after the last byte of 1 GiB, against 2.6 to 4.3
s for the download itself (measured on loopback, 2 CPUs). Here a worker
thread reads the file back just behind the writer, from the page cache,
and hashes it while the network keeps flowing; at the end only the last
unread piece is left. A resumed download hashes its kept bytes first.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["HASH_ALGORITHMS", "HashState", "TailHasher"]

#: hashlib's algorithms present on every platform; the
#: ``tls_client_body_file_hash`` meta key takes one of these.
HASH_ALGORITHMS = frozenset(hashlib.algorithms_guaranteed) - {"shake_128", "shake_256"}

#: Read back in pieces of this size: large enough for hashlib to release
#: the GIL for a long stretch, small enough to stay in the CPU caches.
PIECE = 1 << 20
#: How long the follower waits at the end of the file for more bytes: the
#: writer appends 64 KiB blocks, several per millisecond at full speed.
POLL_S = 0.002


@dataclass(frozen=True)
class HashState:
    """A hash of a file's first ``done`` bytes, to go on from."""

    algorithm: str
    digest: Any  # a hashlib object (hashlib has no public type for it)
    done: int


class TailHasher:
    """:meth:`follow` (on a worker thread) hashes the file as it grows,
    until :meth:`finish` is called and the end of the file is reached."""

    def __init__(self, path: str, algorithm: str, state: HashState | None = None) -> None:
        """``state``: the hash of the file's first bytes, from an earlier
        attempt whose bytes are kept (:meth:`state`); hashing goes on after them."""
        self._file: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by close())
        self.algorithm = algorithm
        self._digest = hashlib.new(algorithm)
        #: Bytes hashed so far.
        self.done = 0
        if state is not None and state.algorithm == algorithm:
            self._digest = state.digest.copy()
            self.done = state.done
            self._file.seek(state.done)
        self._finish = threading.Event()
        self._abandoned = False

    @classmethod
    def open(cls, path: str, algorithm: str, state: HashState | None = None) -> TailHasher | None:
        """A hasher of ``path``, or None when it cannot be read (the
        download goes on without a digest; a checksum is then computed
        from the finished file, as without this)."""
        try:
            return cls(path, algorithm, state)
        except OSError:
            return None

    def follow(self) -> None:
        while not self._abandoned:
            # Read the flag before the read: an end of file seen after
            # finish() was called is the end of the body.
            finishing = self._finish.is_set()
            piece = self._file.read(PIECE)
            if piece:
                self._digest.update(piece)
                self.done += len(piece)
            elif finishing:
                return
            else:
                self._finish.wait(POLL_S)

    def finish(self) -> None:
        """Every byte is in the file (flushed): hash to its end and return."""
        self._finish.set()

    def abandon(self) -> None:
        """The download failed: stop without reading further."""
        self._abandoned = True
        self._finish.set()

    def state(self) -> HashState:
        """Where hashing got to (once :meth:`follow` has returned)."""
        return HashState(self.algorithm, self._digest.copy(), self.done)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        self._file.close()
