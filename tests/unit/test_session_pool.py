"""SessionPool: which session goes when the pool is full (pure)."""

from __future__ import annotations

from scrapy_tlsclient._sessions import SessionPool


def test_the_least_recently_used_unpinned_session_is_evicted() -> None:
    pool = SessionPool(2)
    a, _ = pool.session_for("a")
    b, _ = pool.session_for("b")
    pool.pin(a)  # a WebSocket is open on a
    c, evicted = pool.session_for("c")
    assert evicted == b
    # Every other session pinned: the pool holds more than its maximum.
    pool.pin(c)
    _, evicted = pool.session_for("d")
    assert evicted is None and len(pool) == 3
    # Unpinned once per pin, a session can go again.
    pool.pin(a)
    pool.unpin(a)
    _, evicted = pool.session_for("e")
    assert evicted != a
    pool.unpin(a)
    _, evicted = pool.session_for("f")
    assert evicted == a
