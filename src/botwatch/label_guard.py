"""Bounded metric labels: values outside the allow-list become ``other``.

A metric series per junk intent would take Prometheus down; a phone number
as a label value would leak it for a year.  Spans keep the raw (redacted)
value; metric labels only ever carry a value from a bounded set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from botwatch.semconv import OTHER

MAX_LABEL_LENGTH = 64
_CACHE_LIMIT = 10_000


class LabelGuard:
    """Maps raw values to a bounded set.

    With an explicit allow-list only those values pass.  Without one, the
    first ``limit`` distinct values pass (enough for a bot's real intents),
    everything after that is ``other`` and ``on_full`` is called (a budget
    hit; botwatch.budgets keeps one guard per tenant).
    """

    def __init__(
        self,
        allowed: Iterable[str] | None,
        *,
        limit: int,
        is_sensitive: Callable[[str], bool],
        default: str = "unknown",
        lowercase: bool = False,
        on_full: Callable[[], None] | None = None,
    ) -> None:
        self._lowercase = lowercase
        self._fixed = allowed is not None
        self._allowed: set[str] = {self._normalise(v) for v in allowed} if allowed is not None else set()
        self._limit = limit
        self._is_sensitive = is_sensitive
        self._default = default
        self._on_full = on_full
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def _normalise(self, value: str) -> str:
        value = value.strip()
        return value.lower() if self._lowercase else value

    def __call__(self, raw: str | None) -> str:
        if not raw:
            return self._default
        hit = self._cache.get(raw)
        if hit is not None:
            return hit
        return self._decide(raw)

    def _decide(self, raw: str) -> str:
        value = self._normalise(raw)
        full = False
        with self._lock:
            if value in self._allowed:
                label = value
            elif (
                self._fixed
                or not value
                or len(value) > MAX_LABEL_LENGTH
                or not value.isprintable()
                or self._is_sensitive(value)
            ):
                label = OTHER
            elif len(self._allowed) >= self._limit:
                label, full = OTHER, True
            else:
                self._allowed.add(value)
                label = value
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[raw] = label
        if full and self._on_full is not None:
            self._on_full()
        return label

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._allowed)


class FrozenLabels(dict[str, str]):
    """A metric label set built once per combination of values and reused for every measurement.

    It cannot change, so whoever checked it once (the series budget,
    :meth:`botwatch.budgets.LabelBudgets.admit`) may trust the same object
    again without hashing it.
    """

    __slots__ = ()

    def _frozen(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a FrozenLabels label set cannot change; copy it into a dict first")

    __setitem__ = __delitem__ = _frozen  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _frozen  # type: ignore[assignment]
    __ior__ = _frozen  # type: ignore[assignment]
