"""botwatch.init() writing to a journal file of a test's own, for tests that need real recorded conversations."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import botwatch
from botwatch.demo.sdk_protocols import VirtualClock


@contextlib.contextmanager
def sdk_journal(path: Path, service_name: str, secret: str) -> Iterator[None]:
    """Inside the block, botwatch records into ``path`` (no collector); everything is flushed after it."""
    patch = pytest.MonkeyPatch()
    patch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    patch.setenv("BOTWATCH_SECRET_FILE", str(path.parent / "secret"))
    try:
        botwatch.init(service_name=service_name, journal=str(path), secret=secret)
        try:
            yield
        finally:
            botwatch.shutdown()
    finally:
        patch.undo()


# --- a model switch in a journal: 800 conversations on one model, then 800 on the next ----------
IMPACT_SECRET = "insights-test-secret-0123456789"
Plan = Callable[[datetime], tuple[str, str | None, float, bool]]  # at -> model, variant, conversion, worse


def simulate(path: Path, seed: int, plan: Plan, start: datetime, conversations: int = 1600) -> None:
    """``conversations`` over the 28 days from ``start``, each as ``plan`` says at its moment.

    ``worse``: the reply takes 3.5 s instead of 0.8 s and the intent's confidence is 0.5 instead of 0.9."""
    rng = random.Random(seed)
    step = timedelta(days=28) / conversations
    with sdk_journal(path, "impact-test-bot", IMPACT_SECRET):
        for number in range(conversations):
            at = start + step * number
            model, variant, rate, worse = plan(at)
            clock = VirtualClock(int(at.timestamp() * 1e9))
            name = f"impact-{seed}-{number}"
            with botwatch.conversation(name, channel="telegram", clock=clock, scenario_variant=variant) as conversation:
                with conversation.turn("Хочу записаться на маникюр") as turn:
                    turn.intent("booking", confidence=0.5 if worse else 0.9)
                    with turn.llm(model=model, provider="openai") as call:
                        call.usage(input_tokens=100, output_tokens=20)
                    clock.set(clock() + (3_500_000_000 if worse else 800_000_000))
                    turn.reply("Записала на 15:00")
                if rng.random() < rate:
                    conversation.funnel("booking_created")
            if number % 100 == 99:
                botwatch.flush()  # a bounded export queue: faster than real time, the test must not outrun it


def simulate_switch(
    path: Path, conversion_before: float, conversion_after: float, seed: int, slower_after: bool = False
) -> datetime:
    """800 conversations on gpt-4o-mini over two weeks, then 800 on yandexgpt; returns the switch time.

    ``slower_after``: after the switch every reply is slow and not understood (see ``simulate``)."""
    start = datetime.now(UTC) - timedelta(days=28)
    switch = start + timedelta(days=14)

    def plan(at: datetime) -> tuple[str, str | None, float, bool]:
        if at < switch:
            return "gpt-4o-mini", None, conversion_before, False
        return "yandexgpt-lite", None, conversion_after, slower_after

    simulate(path, seed, plan, start)
    return switch
