"""Native sessions (clients with their connection pools), keyed by the
options a client fixes, bounded in number."""

from __future__ import annotations

import secrets
from collections import OrderedDict

__all__ = ["SessionPool"]


class SessionPool:
    """Maps session keys to native session ids, least recently used first.

    Ids carry a per-pool prefix, so two crawlers in one process never share
    or destroy each other's sessions. A session with an open WebSocket is
    pinned: destroying it would cut the socket without a close frame, so
    the pool evicts the least recently used unpinned one instead (and holds
    more than its maximum while every session is pinned).
    """

    def __init__(self, max_sessions: int) -> None:
        self._max_sessions = max_sessions
        self._prefix = f"scrapy-{secrets.token_hex(4)}-"
        self._ids: OrderedDict[str, str] = OrderedDict()
        #: Open WebSockets per session id.
        self._pins: dict[str, int] = {}

    def session_for(self, key: str) -> tuple[str, str | None]:
        """Return the session id for ``key`` and an evicted id to destroy."""
        session_id = self._ids.get(key)
        if session_id is not None:
            self._ids.move_to_end(key)
            return session_id, None
        session_id = self._prefix + key
        self._ids[key] = session_id
        evicted = None
        if len(self._ids) > self._max_sessions:
            unpinned = next((k for k, sid in self._ids.items() if sid not in self._pins), None)
            if unpinned is not None and unpinned != key:
                evicted = self._ids.pop(unpinned)
        return session_id, evicted

    def pin(self, session_id: str) -> None:
        """A WebSocket opened on ``session_id``: keep the session."""
        self._pins[session_id] = self._pins.get(session_id, 0) + 1

    def unpin(self, session_id: str) -> None:
        """A WebSocket of ``session_id`` ended."""
        left = self._pins.get(session_id, 0) - 1
        if left > 0:
            self._pins[session_id] = left
        else:
            self._pins.pop(session_id, None)

    def drain(self) -> list[str]:
        """Forget every session and return their ids (for destroySession)."""
        ids = list(self._ids.values())
        self._ids.clear()
        return ids

    def __len__(self) -> int:
        return len(self._ids)
