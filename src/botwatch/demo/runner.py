"""Runs the simulator: plans each conversation, plays it through the SDK, keeps totals.

One conversation is planned, played and forgotten at a time, so memory does
not grow with ``conversations``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .executor import play
from .faults import NO_FAULTS, Faults
from .injection import inject
from .placement import place_batch, place_live
from .plan import NS_PER_S, ConversationPlan
from .script import script_conversation
from .sdk_protocols import OpenConversation, real_flush, real_sdk
from .tally import Tally

DEFAULT_WINDOW_S = 7 * 86400.0
FLUSH_EVERY = 25  # conversations between flushes (the SDK's export queues are bounded)


def plan_conversation(
    seed: int,
    number: int,
    faults: Faults = NO_FAULTS,
    *,
    now_ns: int,
    window_s: float = DEFAULT_WINDOW_S,
    live_elapsed_s: float | None = None,
) -> ConversationPlan:
    """The complete plan of conversation ``number``: scripted, placed, faults injected.

    Batch mode (``live_elapsed_s`` is None): the chat starts somewhere in
    ``[now - window, now]`` and fault windows count virtual seconds from
    ``now - window``.  Live mode: the conversation ends at ``now_ns`` and
    fault windows are judged at ``live_elapsed_s``, the real seconds since the
    run started.
    """
    script = script_conversation(seed, number)
    if live_elapsed_s is None:
        u = random.Random(f"botwatch-demo/{seed}/{number}/place").random()
        window_ns = int(window_s * NS_PER_S)
        run_start = now_ns - window_ns
        placed = place_batch(script, u, now_ns, window_ns)
        return inject(placed, faults, seed, lambda t: (t - run_start) / NS_PER_S)
    at = live_elapsed_s
    return inject(place_live(script, now_ns), faults, seed, lambda _t: at)


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    elapsed_s: float  # real seconds since the run started
    last_id: str
    tally: Tally  # a copy; safe to keep

    @property
    def per_second(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class DemoResult:
    seed: int
    faults: Faults
    live: bool
    elapsed_s: float
    tally: Tally
    first_id: str | None
    last_id: str | None
    earliest_ns: int | None  # virtual time span the run covered
    latest_ns: int | None


def run_demo(
    conversations: int,
    rate: float | None,
    faults: Faults,
    seed: int,
    on_progress: Callable[[Progress], None] | None = None,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    now_ns: int | None = None,
    open_conversation: OpenConversation | None = None,
    flush: Callable[[], None] | None = None,
    progress_interval_s: float = 0.1,
    wall_clock: Callable[[], int] = time.time_ns,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DemoResult:
    """Simulate ``conversations`` conversations through the SDK.

    ``rate`` None: as fast as possible, back-dated over the last ``window_s``
    (``now_ns`` fixes "now" for reproducible absolute times).  ``rate`` R:
    conversation n is sent n/R real seconds after the start and ends at that
    moment.  ``on_progress`` is called at most every ``progress_interval_s``
    and once after the last conversation.  ``open_conversation`` defaults to
    ``botwatch.conversation`` and ``flush`` to ``botwatch.flush``, which runs
    every 25 conversations and at the end, so a fast run never overflows the
    SDK's bounded export queues.
    """
    if conversations < 0:
        raise ValueError("conversations must be >= 0")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be > 0 conversations per second")
    sdk = open_conversation if open_conversation is not None else real_sdk()
    if flush is None and open_conversation is None:
        flush = real_flush
    batch_now = wall_clock() if now_ns is None else now_ns
    tally = Tally()
    started = monotonic()
    last_report = started
    first_id: str | None = None
    last_id: str | None = None
    earliest: int | None = None
    latest: int | None = None
    for number in range(conversations):
        if rate is None:
            plan = plan_conversation(seed, number, faults, now_ns=batch_now, window_s=window_s)
        else:
            wait = started + number / rate - monotonic()
            if wait > 0:
                sleep(wait)
            elapsed = monotonic() - started
            plan = plan_conversation(seed, number, faults, now_ns=wall_clock(), live_elapsed_s=elapsed)
        play(plan, sdk)
        tally.add(plan)
        if flush is not None and (number + 1) % FLUSH_EVERY == 0:
            flush()
        first_id = first_id or plan.id
        last_id = plan.id
        earliest = plan.start_ns if earliest is None else min(earliest, plan.start_ns)
        latest = plan.end_ns if latest is None else max(latest, plan.end_ns)
        now = monotonic()
        if on_progress is not None and (now - last_report >= progress_interval_s or number == conversations - 1):
            last_report = now
            on_progress(Progress(number + 1, conversations, now - started, plan.id, tally.copy()))
    if flush is not None:
        flush()
    return DemoResult(
        seed=seed,
        faults=faults,
        live=rate is not None,
        elapsed_s=monotonic() - started,
        tally=tally,
        first_id=first_id,
        last_id=last_id,
        earliest_ns=earliest,
        latest_ns=latest,
    )
