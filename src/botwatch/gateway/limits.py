"""Per-token rate limits: a token bucket of events per second (a batch of 50 costs 50)."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self._tokens = self.burst
        self._clock = clock
        self._updated = clock()

    def take(self, cost: int) -> float:
        """0 when allowed (and counted); otherwise the seconds after which it would be."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if cost > self.burst:
            return -1.0  # can never pass: the batch is larger than the burst
        if self._tokens >= cost:
            self._tokens -= cost
            return 0.0
        return (cost - self._tokens) / self.rate
