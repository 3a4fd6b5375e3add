"""Accepted events are recorded through the SDK right after their request is answered.

The request does everything that decides its answer: token, signature,
limits, each event's checks and claiming its id in the idempotency store.
Recording an event (its spans, log records and measurements, most of the
gateway's CPU) then happens in one background task on the same event loop,
one event at a time, giving the loop back between events so the next request
is read and answered meanwhile.  A webhook sender waits for the checks, not
for its batch to be recorded; builders with short timeouts stop retrying
requests that were in fact accepted.

Nothing is lost to the split: the queue is in memory like the SDK's own
export queues behind it, ``close()`` records what is queued before the
telemetry is flushed at shutdown, and a request waits (then gets 503) while
too many events are queued (``max_pending_events``); the recorder itself
pauses while an export queue is 90% full, so what was accepted is never
dropped by a full SDK queue.  Events are recorded in the order their
requests were accepted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

_log = logging.getLogger("botwatch.gateway")

T = TypeVar("T")


# The recorder itself never fills an export queue past this: requests are held back at half
# full, but the events already accepted (up to max_pending_events) must fit in the rest.
CEILING = 0.9


class Recorder(Generic[T]):
    def __init__(self, record: Callable[[T], Awaitable[None]], backlog: Callable[[], float] = lambda: 0.0) -> None:
        self._record = record
        self._backlog = backlog
        self._queue: collections.deque[T] = collections.deque()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Events accepted and not yet recorded."""
        return len(self._queue) + self._busy

    def submit(self, items: Iterable[T]) -> None:
        self._queue.extend(items)
        if not self._queue:
            return
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="botwatch-gateway-recorder")

    async def _run(self) -> None:
        queue = self._queue
        try:
            while queue:
                while self._behind():
                    await asyncio.sleep(0.005)  # let the exporters catch up rather than overflow them
                item = queue.popleft()
                self._busy = True
                try:
                    await self._record(item)
                except Exception:  # noqa: BLE001 - one event must not stop the others
                    _log.exception("recording an accepted event failed")
                finally:
                    self._busy = False
                await asyncio.sleep(0)  # the loop reads and answers requests between events
        finally:
            if not queue:
                self._idle.set()

    def _behind(self) -> bool:
        try:
            return self._backlog() >= CEILING
        except Exception:  # noqa: BLE001 - a broken gauge must not stop recording
            _log.exception("reading the export backlog failed")
            return False

    async def join(self, timeout: float | None = None) -> bool:
        """Wait until every submitted event is recorded; False if ``timeout`` came first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
