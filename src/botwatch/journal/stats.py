"""Small, exact statistics for comparing shares: Wilson intervals, two-proportion z-tests, sample sizes.

The owner's questions are about shares (conversion, losses, replies over 3 s),
so one test family serves ``insights`` and change impact: the pooled
two-proportion z-test, with the normal distribution from ``math.erfc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 %
Z_POWER_80 = 0.8416212335729143  # one-sided 80 % power


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of successes/n (0..1 each side); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class TwoProportions:
    """Group a (k_a of n_a) against group b (k_b of n_b)."""

    k_a: int
    n_a: int
    k_b: int
    n_b: int

    @property
    def rate_a(self) -> float:
        return self.k_a / self.n_a if self.n_a else 0.0

    @property
    def rate_b(self) -> float:
        return self.k_b / self.n_b if self.n_b else 0.0

    @property
    def z(self) -> float:
        if not (self.n_a and self.n_b):
            return 0.0
        pooled = (self.k_a + self.k_b) / (self.n_a + self.n_b)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / self.n_a + 1 / self.n_b))
        return (self.rate_a - self.rate_b) / spread if spread else 0.0

    @property
    def p_two_sided(self) -> float:
        return math.erfc(abs(self.z) / math.sqrt(2))

    @property
    def p_greater(self) -> float:
        """P-value of 'rate a is higher than rate b' (one-sided)."""
        return 0.5 * math.erfc(self.z / math.sqrt(2))


def sample_size(p1: float, p2: float, z_alpha: float = Z_95, z_power: float = Z_POWER_80) -> int:
    """Conversations per group needed to tell p1 from p2 (two-sided 5 %, 80 % power by default)."""
    delta = abs(p1 - p2)
    if delta == 0:
        return 10**9
    p_bar = (p1 + p2) / 2
    root = z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (delta * delta))
