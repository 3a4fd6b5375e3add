"""Metric measurements and log records are built off the bot's hot path.

The caller appends a small tuple to a bounded queue (well under a
microsecond); a daemon thread turns them into OTel measurements and log
records every few milliseconds.  Exemplars still point at the right span:
the span's context travels with the measurement.  ``flush()`` drains the
queue first, so nothing recorded before a flush or shutdown is lost; a full
queue drops and counts (``botwatch.telemetry.dropped``).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

_log = logging.getLogger("botwatch")


class Deferred:
    def __init__(self, *, capacity: int = 65_536, interval: float = 0.05) -> None:
        self._queue: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = collections.deque()
        self._capacity = capacity
        self._interval = interval
        self.dropped = 0
        self._failed_once = False
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="botwatch-deferred", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if len(self._queue) >= self._capacity:
            self.dropped += 1
            return
        self._queue.append((fn, args, kwargs))

    def drain(self) -> None:
        with self._drain_lock:  # keeps the order of one producer's items
            queue = self._queue
            while queue:
                fn, args, kwargs = queue.popleft()
                try:
                    fn(*args, **kwargs)
                except Exception:  # noqa: BLE001 - telemetry never breaks the bot
                    if not self._failed_once:
                        self._failed_once = True
                        _log.exception("botwatch: recording telemetry failed (reported once)")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.drain()

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.drain()
