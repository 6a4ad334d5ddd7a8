"""Politeness per host: pacing of requests and robots.txt (RFC 9309 via ``protego``).

Requests to one host start at least ``min_interval`` seconds apart, or the host's robots.txt
``Crawl-delay`` for our agent where that is longer (capped at ``max_crawl_delay``). A robots.txt that
answers 5xx or cannot be reached forbids the host for this run; 401/403 forbids it; 4xx allows all.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

from cfkit.fetch.reasons import Reject


def host_of(url: str) -> str:
    """``scheme://netloc`` of ``url``, lower-case: the unit of pacing and robots.txt."""
    s = urlsplit(url)
    return f"{s.scheme}://{s.netloc}".lower()


class HostPolicy:
    """Per-host pacing and robots.txt decisions (thread-safe)."""

    def __init__(self, min_interval: float, robots: bool, user_agent: str, max_crawl_delay: float = 60.0):
        self.min_interval, self.robots, self.user_agent = min_interval, robots, user_agent
        self.max_crawl_delay = max_crawl_delay
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._host_locks: dict[str, threading.Lock] = {}
        self._robots: dict[str, Any] = {}  # host -> Protego rules, or a Reject forbidding the whole host
        self._delay: dict[str, float] = {}  # Crawl-delay per host
        self.starts: dict[str, list[float]] = {}  # monotonic request start times per host (paced hosts)

    def _host_lock(self, host: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(host, threading.Lock())

    def wait(self, url: str) -> None:
        """Block until a request to ``url``'s host may start."""
        host = host_of(url)
        interval = max(self.min_interval, self._delay.get(host, 0.0))
        if interval <= 0:
            return
        with self._host_lock(host):
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            if start > now:
                time.sleep(start - now)
            self._next[host] = start + interval
            self.starts.setdefault(host, []).append(start)

    def _rules(self, client, host: str):
        from protego import Protego

        try:
            self.wait(host)
            r = client.get(host + "/robots.txt")
        except Reject as e:
            return Reject("robots_disallowed", f"robots.txt: {e.reason} {e.detail}".strip())
        except Exception as e:  # noqa: BLE001 - unreachable: complete disallow (RFC 9309 2.3.1.4)
            return Reject("network", f"robots.txt unreachable ({type(e).__name__}); nothing fetched from {host}")
        if r.status_code >= 500:  # RFC 9309 2.3.1.3: a server error means complete disallow (re-runs retry)
            return Reject("http_error", f"robots.txt answered HTTP {r.status_code}; nothing fetched from {host}")
        if r.status_code in (401, 403):
            return Reject("robots_disallowed", f"robots.txt answered HTTP {r.status_code}")
        if r.status_code >= 400:
            return Protego.parse("")  # no robots.txt: everything allowed
        rules = Protego.parse(r.text)
        delay = rules.crawl_delay(self.user_agent)
        self._delay[host] = min(float(delay or 0.0), self.max_crawl_delay)
        return rules

    def check(self, client, url: str) -> None:
        """Raise :class:`Reject` where robots.txt forbids ``url`` (or the host's robots.txt is failing)."""
        if not self.robots:
            return
        host = host_of(url)
        with self._host_lock(host + "#robots"):
            if host not in self._robots:
                self._robots[host] = self._rules(client, host)
        rules = self._robots[host]
        if isinstance(rules, Reject):
            raise Reject(rules.reason, rules.detail)
        if not rules.can_fetch(url, self.user_agent):
            raise Reject("robots_disallowed", "robots.txt disallows this URL")
