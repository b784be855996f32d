"""TailHasher follows a file another thread appends to (no library)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from scrapy_tlsclient._tail_hash import TailHasher


def test_the_follower_hashes_what_a_writer_appends(tmp_path: Path) -> None:
    path = tmp_path / "growing.bin"
    kept = os.urandom(300_000)  # a resume's kept bytes, there before
    path.write_bytes(kept)
    pieces = [os.urandom(n) for n in (1, 65536, 1 << 20, 7, 3 << 20)]
    hasher = TailHasher(str(path), "sha256")
    follower = threading.Thread(target=hasher.follow)
    follower.start()
    with path.open("ab") as file:
        for piece in pieces:
            file.write(piece)
            file.flush()
    hasher.finish()
    follower.join(timeout=30)
    assert not follower.is_alive()
    hasher.close()
    whole = kept + b"".join(pieces)
    assert hasher.done == len(whole)
    assert hasher.hexdigest() == hashlib.sha256(whole).hexdigest()


def test_abandon_stops_the_follower(tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(b"x" * 1000)
    hasher = TailHasher(str(path), "md5")
    follower = threading.Thread(target=hasher.follow)
    follower.start()
    hasher.abandon()
    follower.join(timeout=10)
    assert not follower.is_alive()
    hasher.close()
