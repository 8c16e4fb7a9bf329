"""Pacing the retries of a write that lost a race, or of a connection that failed: jittered backoff bounded by time.

Stores refuse a change set computed from a stale view (:class:`~deltamem.core.ConflictError`). Retrying at once
lets the writers that collided collide again: with 8 writers updating one memory on PostgreSQL, 8 immediate retries
left 10-36 % of the writes failed (docs/results/load_fault.md). So a retry pauses first (full-jitter exponential
backoff: each pause uniform in [0, min(cap, base * 2^n)]). Tries are bounded by total time, not by number, so a
write does not fail only because it lost several races in a row. The write path that uses it is
:func:`deltamem.facade.writer.commit_fresh`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Delays between the tries of a write that conflicted: ``base_s * 2^n`` capped at ``cap_s``, full jitter, for
    ``budget_s`` seconds after the first try (then the last conflict is raised)."""

    base_s: float = 0.002
    cap_s: float = 0.1
    budget_s: float = 10.0

    def delay(self, attempt: int, u: float) -> float:
        """The pause after failed try number ``attempt`` (0-based), for a uniform draw ``u`` in [0, 1)."""
        return u * min(self.cap_s, self.base_s * 2.0 ** min(attempt, 60))


DEFAULT_BACKOFF = Backoff()


class Retry:
    """Paces the tries of one write::

        retry = Retry(backoff)
        while True:
            ...  # read, compute
            try:
                return commit()
            except ConflictError as e:
                retry.pause(e)  # sleeps, or raises e once the time budget is spent
    """

    def __init__(self, backoff: Backoff = DEFAULT_BACKOFF, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, uniform: Callable[[], float] = random.random) -> None:
        self.backoff = backoff
        self.attempts = 0
        self._sleep, self._clock, self._uniform = sleep, clock, uniform
        self._started = clock()

    def pause(self, error: Exception) -> None:
        """Wait before the next try; raise ``error`` instead when that wait would pass the budget."""
        wait = self.backoff.delay(self.attempts, self._uniform())
        if self._clock() - self._started + wait > self.backoff.budget_s:
            raise error
        self._sleep(wait)
        self.attempts += 1
