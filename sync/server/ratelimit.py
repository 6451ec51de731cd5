"""A small in-memory sliding-window rate limit, per client address.

Each instance counts on its own; behind a load balancer of N instances the effective limit
is at most N times the setting, which still makes guessing a 60-bit code hopeless.
"""

import threading
import time
from collections import deque
from collections.abc import Callable

# forget idle addresses once this many are tracked, so a scan cannot grow memory for ever
_MAX_KEYS = 10_000


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.window = 60.0
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float | None:
        """Count a hit for `key`; None if allowed, else the seconds to wait before the next."""
        now = self.clock()
        with self._lock:
            if len(self._hits) > _MAX_KEYS:
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(self.window - (now - hits[0]), 0.0)
            hits.append(now)
            return None

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] >= self.window]:
            del self._hits[key]
