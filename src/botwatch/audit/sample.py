"""``botwatch audit sample``: a uniform random pick of conversations, in bounded memory."""

from __future__ import annotations

import random
from collections.abc import Iterable


def reservoir(items: Iterable[str], n: int, seed: int | None) -> list[str]:
    """``n`` items drawn uniformly from a stream of unknown length (Algorithm R); the same seed, the same pick."""
    rng = random.Random(seed)
    picked: list[str] = []
    for seen, item in enumerate(items):
        if seen < n:
            picked.append(item)
        else:
            slot = rng.randrange(seen + 1)
            if slot < n:
                picked[slot] = item
    return picked
