"""Per-key token buckets: ``rate`` requests per second on average, bursts of up to ``burst``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """In-process token buckets keyed by API key id (each API node limits its own share in a scaled-out setup)."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """A rate of 0 (or less) turns limiting off."""
        return self.rate > 0

    def take(self, key: str) -> float:
        """Spend one token; returns 0 if allowed, else the seconds until one is available (nothing is spent)."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` takes whole seconds; round up so a client that obeys it is never refused again at once."""
    return str(max(1, math.ceil(wait_s)))
