"""Results remembered for a few objects met in every batch (resources, scopes), by identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ByIdentity(Generic[T]):
    """``get(obj, build)``: ``build(obj)`` the first time this very object is seen, remembered after.

    Emptied when it holds ``limit`` objects; it keeps each object alive, so an
    id is never answered for another object that took its place.
    """

    def __init__(self, limit: int = 64) -> None:
        self._seen: dict[int, tuple[object, T]] = {}
        self._limit = limit

    def get(self, obj: Any, build: Callable[[Any], T]) -> T:
        seen = self._seen.get(id(obj))
        if seen is not None and seen[0] is obj:
            return seen[1]
        out = build(obj)
        if len(self._seen) >= self._limit:
            self._seen.clear()
        self._seen[id(obj)] = (obj, out)
        return out
