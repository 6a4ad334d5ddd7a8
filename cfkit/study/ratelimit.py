"""A sliding-window limit on events per key, in process memory (nothing about a client is stored on disk)."""

from __future__ import annotations

import threading
import time
from collections import deque


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float):
        self.limit, self.window_s = limit, window_s
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Record an event for ``key`` and return True, or return False (nothing recorded) when over the limit."""
        now = time.monotonic()
        with self._lock:
            for k in [k for k, q in self._events.items() if not q or q[-1] <= now - self.window_s]:
                del self._events[k]  # forget idle clients: memory stays bounded by the active ones
            q = self._events.setdefault(key, deque())
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


NEW_SESSIONS = SlidingWindow(limit=20, window_s=600)
"""New volunteer sessions per client address: generous for a shared lab machine or NAT, useless for a script."""
