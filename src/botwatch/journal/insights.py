"""Where clients are lost: scenario steps whose conversations end without a booking far more often than usual.

A **step** is something a conversation went through: an intent the bot
recognised (``intent=price``) or the handler that answered (``handler=…``).
A conversation is **lost at** a step when its last turn was that step and it
never reached ``booking_created``, or it was handed to a human
(``escalated``) there: the client stopped at this point of the scenario.

Steps differ by nature (a cancellation never books), so a step is never
compared with other steps.  It is compared with itself, two ways:

- within the conversations that reached the step, each **segment** (scenario
  variant, LLM model, bot, channel) against the rest of them — a step broken
  in one variant;
- the step in this window against the same step over the ``history`` windows
  before it (the bot's own average for that step) — a step broken everywhere.

Steps are the intent recognised, the handler that answered, and the turn's
position in the dialogue (6 and later are one step).  A finding needs all of:

- enough conversations on both sides (``min_reached``, default 30);
- a loss rate at least ``min_effect`` (default 20 points) above the rest's;
- a one-sided pooled two-proportion z-test below ``alpha`` (default 0.01)
  after a Bonferroni correction over every comparison made.

So a clean bot, however its steps differ, gives no finding; a step broken in
one variant stands out.  Each finding carries both rates with their Wilson 95 %
intervals, why the lost conversations ended (escalated, a reply over 3 s,
the bot not understanding, or the client just left) and three examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botwatch import semconv
from botwatch.journal.facts import UNKNOWN, ConversationFacts
from botwatch.journal.intent_names import intent_name, known_intent
from botwatch.journal.stats import TwoProportions, wilson

if TYPE_CHECKING:
    from botwatch.journal.reader import Journal

SEGMENTS = ("variant", "model", "bot", "channel")
NOW = "period=now"  # the segment of a comparison with the weeks before the window
LAST_TURN_STEP = 6  # turn positions from 6 on are one step, "6"
REASONS = ("escalated", "slow_reply", "low_confidence", "left")
REASONS_RU = {
    "escalated": "передан администратору",
    "slow_reply": "ответ дольше 3 секунд",
    "low_confidence": "бот не понял клиента",
    "left": "клиент ушёл без записи",
}
SEGMENTS_RU = {"variant": "вариант сценария", "model": "модель", "bot": "бот", "channel": "канал"}


def step_name(step: str, lang: str = "ru") -> str:
    """A step in the owner's words: «вопрос о цене», «сообщение №6 в диалоге», «шаг «price_handler»»."""
    kind, _, value = step.partition("=")
    if kind == "intent":
        if known_intent(value):
            return intent_name(value, lang)
        return ("тема " if lang == "ru" else "topic ") + intent_name(value, lang)
    if kind == "turn":
        return f"сообщение №{value} в диалоге" if lang == "ru" else f"message {value} of the dialogue"
    return f"шаг «{value}»" if lang == "ru" else f"step {value!r}"


@dataclass(frozen=True)
class Finding:
    step: str  # "intent=price"
    segment: str  # "variant=B"
    reached: int
    lost: int
    rest_reached: int
    rest_lost: int
    p_value: float  # Bonferroni-adjusted, one-sided
    reasons: dict[str, int]
    examples: tuple[str, ...]

    @property
    def loss_rate(self) -> float:
        return self.lost / self.reached

    @property
    def rest_rate(self) -> float:
        return self.rest_lost / self.rest_reached

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.lost, self.reached)

    @property
    def rest_ci(self) -> tuple[float, float]:
        return wilson(self.rest_lost, self.rest_reached)

    @property
    def ci_low(self) -> float:
        return self.ci[0]

    @property
    def ci_high(self) -> float:
        return self.ci[1]

    @property
    def rest_ci_low(self) -> float:
        return self.rest_ci[0]

    @property
    def rest_ci_high(self) -> float:
        return self.rest_ci[1]

    @property
    def excess_lost(self) -> float:
        """Conversations lost beyond what the rest's rate would lose: the ranking key."""
        return self.lost - self.reached * self.rest_rate

    @property
    def against_history(self) -> bool:
        """Compared with the same step in the weeks before, not with other segments."""
        return self.segment == NOW

    @property
    def title_en(self) -> str:
        where, _, which = self.segment.partition("=")
        step = step_name(self.step, "en")
        if self.against_history:
            return (
                f"{step}: {self.loss_rate:.0%} of clients lost, against {self.rest_rate:.0%} "
                f"in the weeks before ({self.lost} of {self.reached})"
            )
        return (
            f"{step} in {where} {which}: {self.loss_rate:.0%} of clients lost "
            f"against {self.rest_rate:.0%} elsewhere ({self.lost} of {self.reached})"
        )

    @property
    def title_ru(self) -> str:
        where, _, which = self.segment.partition("=")
        step = step_name(self.step, "ru")
        if self.against_history:
            return (
                f"{step}: теряется {self.loss_rate:.0%} клиентов, а в прошлые недели {self.rest_rate:.0%} "
                f"({self.lost} из {self.reached})"
            )
        return (
            f"{step}, {SEGMENTS_RU.get(where, where)} {which}: теряется {self.loss_rate:.0%} клиентов, "
            f"в остальных случаях {self.rest_rate:.0%} ({self.lost} из {self.reached})"
        )

    @property
    def main_reason(self) -> str:
        return max(self.reasons, key=lambda r: self.reasons[r]) if self.reasons else "left"


@dataclass(frozen=True)
class Insights:
    since: datetime
    until: datetime
    conversations: int
    lost: int
    comparisons: int  # how many step/segment comparisons the correction covers
    findings: list[Finding] = field(default_factory=list)

    @property
    def average_loss(self) -> float | None:
        return self.lost / self.conversations if self.conversations else None


def is_lost(conversation: ConversationFacts) -> bool:
    return conversation.escalated or not conversation.booked


def loss_reason(conversation: ConversationFacts) -> str:
    if conversation.escalated:
        return "escalated"
    last = conversation.last_turn
    if last is not None and last.slow:
        return "slow_reply"
    if last is not None and last.confidence is not None and last.confidence < semconv.LOW_CONFIDENCE:
        return "low_confidence"
    return "left"


def _turn_steps(intent: str, handler: str | None, position: int) -> set[str]:
    steps = {f"turn={min(position, LAST_TURN_STEP)}"} if position > 0 else set()
    steps |= {f"intent={intent}"} if intent != UNKNOWN else set()
    return steps | ({f"handler={handler}"} if handler else set())


def _steps(conversation: ConversationFacts) -> set[str]:
    return set().union(*(_turn_steps(t.intent, t.handler, t.turn_index) for t in conversation.turns))


def lost_at(conversation: ConversationFacts) -> set[str]:
    """The steps where this conversation was lost: its last turn's, or none when it booked."""
    last = conversation.last_turn
    if last is None or not is_lost(conversation):
        return set()
    return _turn_steps(last.intent, last.handler, last.turn_index)


def _segments(conversation: ConversationFacts) -> list[str]:
    return [f"{name}={getattr(conversation, name)}" for name in SEGMENTS if getattr(conversation, name) != UNKNOWN]


def find_losses(
    journal: Journal, since: datetime, until: datetime, *, history_windows: int = 4, **options: Any
) -> Insights:
    """Read the window's conversations (and ``history_windows`` windows before it) from ``journal`` and rank
    where clients are lost (options: rank_losses)."""
    progress = options.get("progress")
    history = read_history(journal, since, until, history_windows)
    return rank_losses(journal.facts(since, until, progress), since, until, history=history, **options)


def read_history(journal: Journal, since: datetime, until: datetime, windows: int) -> list[ConversationFacts] | None:
    """The conversations of the ``windows`` windows as long as [since, until) just before it; None for 0."""
    return journal.facts(since - (until - since) * windows, since) if windows > 0 else None


def rank_losses(
    conversations: Iterable[ConversationFacts],
    since: datetime,
    until: datetime,
    *,
    min_reached: int = 30,
    min_effect: float = 0.2,
    alpha: float = 0.01,
    history: Iterable[ConversationFacts] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Insights:
    """Findings of two kinds, under one correction: a segment of a step against the rest of that step, and a
    step in this window against the same step in ``history`` (the weeks before; the bot's own average)."""
    say = progress or (lambda _text: None)
    seen = list(conversations)
    now = _Counts(seen)
    say(f"{now.total} conversations, {len(now.reached)} steps")
    candidates: list[tuple[str, str, int, int, int, int, float]] = []
    for (step, segment), n_in in now.reached_in.items():
        n_rest = now.reached[step] - n_in
        if n_in < min_reached or n_rest < min_reached:
            continue
        k_in = now.lost_in[(step, segment)]
        test = TwoProportions(k_in, n_in, now.lost[step] - k_in, n_rest)
        candidates.append((step, segment, k_in, n_in, test.k_b, n_rest, test.p_greater))
    if history is not None:
        before = _Counts(history)
        for step, n_now in now.reached.items():
            n_before = before.reached.get(step, 0)
            if n_now < min_reached or n_before < min_reached:
                continue
            test = TwoProportions(now.lost[step], n_now, before.lost[step], n_before)
            candidates.append((step, NOW, now.lost[step], n_now, before.lost[step], n_before, test.p_greater))
    comparisons = len(candidates)
    findings = []
    for step, segment, k_in, n_in, k_rest, n_rest, p in candidates:
        adjusted = min(1.0, p * comparisons)
        if adjusted >= alpha or k_in / n_in - k_rest / n_rest < min_effect:
            continue
        lost_members = [c for c in seen if step in lost_at(c) and (segment == NOW or segment in _segments(c))]
        reasons = Counter(loss_reason(c) for c in lost_members)
        findings.append(
            Finding(
                step=step,
                segment=segment,
                reached=n_in,
                lost=k_in,
                rest_reached=n_rest,
                rest_lost=k_rest,
                p_value=adjusted,
                reasons={r: reasons.get(r, 0) for r in REASONS},
                examples=tuple(c.conversation_id for c in lost_members[-3:]),
            )
        )
    findings.sort(key=lambda f: (-f.excess_lost, f.p_value))
    return Insights(since, until, now.total, now.lost_total, comparisons, _distinct(findings))


class _Counts:
    """Conversations reaching and lost at each step, overall and per segment.

    Counted, not collected: conversations with the same steps, segments and loss share one signature, and a
    million-event journal has tens of thousands of conversations but only hundreds of signatures.
    """

    def __init__(self, conversations: Iterable[ConversationFacts]) -> None:
        signatures: Counter[tuple[frozenset[str], tuple[str, ...], frozenset[str]]] = Counter()
        self.total = self.lost_total = 0
        for conversation in conversations:
            self.total += 1
            self.lost_total += is_lost(conversation)
            signatures[
                (frozenset(_steps(conversation)), tuple(_segments(conversation)), frozenset(lost_at(conversation)))
            ] += 1
        self.reached: Counter[str] = Counter()
        self.reached_in: Counter[tuple[str, str]] = Counter()
        self.lost: Counter[str] = Counter()
        self.lost_in: Counter[tuple[str, str]] = Counter()
        for (steps, segments, here), count in signatures.items():
            for step in steps:
                self.reached[step] += count
                self.lost[step] += count if step in here else 0
                for segment in segments:
                    self.reached_in[(step, segment)] += count
                    if step in here:
                        self.lost_in[(step, segment)] += count


def _distinct(findings: list[Finding]) -> list[Finding]:
    """One finding per step: the same broken step seen through two segments (variant B, and the model B uses)
    is reported once, under the segment that explains most."""
    seen: set[str] = set()
    kept = []
    for finding in findings:
        if finding.step not in seen:
            seen.add(finding.step)
            kept.append(finding)
    return kept
