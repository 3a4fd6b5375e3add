"""What a change did: conversion and reply quality before and after a model, release or scenario switch.

A **switch** of an attribute (the LLM model, the bot's release
``service.version``, the scenario version ``botwatch.scenario.version``) is
the first moment a new value appears and from then on carries at least
``dominance`` (80 %) of the conversations, having carried none before.  Values
used side by side (a model per business, A/B variants) are not switches:
live variants are compared with each other instead.

Each side of a switch is the conversations from the previous switch (or the
window's start) to this one, and from this one to the next (or the end).
Conversion is compared with the pooled two-proportion z-test (two-sided); a
change is significant at p < 0.05 with at least ``min_side`` conversations a
side.  ``min_sample`` is how many conversations a side needs to tell an
8-point change from noise at the earlier conversion (5 %, 80 % power); until
then a quiet result says "not enough data yet", not "no change".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from statistics import median
from typing import TYPE_CHECKING, Any

from botwatch.journal.facts import UNKNOWN, ConversationFacts
from botwatch.journal.stats import TwoProportions, sample_size

if TYPE_CHECKING:
    from botwatch.journal.reader import Journal

ATTRIBUTES = ("model", "release", "scenario_version")
ATTRIBUTES_RU = {"model": "модель", "release": "версию бота", "scenario_version": "версию сценария"}
ATTRIBUTES_EN = {"model": "model", "release": "bot release", "scenario_version": "scenario version"}
DETECTABLE_CHANGE = 0.08  # the conversion change min_sample is computed for
_MONTHS_RU = ("янв.", "февр.", "мар.", "апр.", "мая", "июн.", "июл.", "авг.", "сент.", "окт.", "нояб.", "дек.")
MOSCOW = timezone(timedelta(hours=3))


@dataclass(frozen=True)
class Side:
    conversations: int
    booked: int
    turns: int
    slow_turns: int
    low_confidence_turns: int
    lead_creates: int
    lead_failures: int
    reply_p50_s: float | None

    @property
    def conversion(self) -> float | None:
        return self.booked / self.conversations if self.conversations else None

    @property
    def slow_share(self) -> float | None:
        return self.slow_turns / self.turns if self.turns else None

    @property
    def low_confidence_share(self) -> float | None:
        return self.low_confidence_turns / self.turns if self.turns else None

    @property
    def lead_failure_rate(self) -> float | None:
        return self.lead_failures / self.lead_creates if self.lead_creates else None


@dataclass(frozen=True)
class ChangeImpact:
    attribute: str
    before: str
    after: str
    changed_at: datetime
    side_before: Side
    side_after: Side
    p_value: float
    min_sample: int
    min_side: int

    @property
    def conversion_before(self) -> float | None:
        return self.side_before.conversion

    @property
    def conversion_after(self) -> float | None:
        return self.side_after.conversion

    @property
    def enough_data(self) -> bool:
        return min(self.side_before.conversations, self.side_after.conversations) >= self.min_side

    @property
    def significant(self) -> bool:
        return self.enough_data and self.p_value < 0.05

    @property
    def too_little_data(self) -> bool:
        """Quiet, and a side is short of the sample an 8-point change needs: "too little data", not "no change"."""
        smaller = min(self.side_before.conversations, self.side_after.conversations)
        return not self.significant and (not self.enough_data or smaller < self.min_sample)

    @property
    def needed(self) -> int:
        return max(self.min_sample, self.min_side)

    @property
    def worse(self) -> bool:
        return self.significant and (self.conversion_after or 0) < (self.conversion_before or 0)

    @property
    def sentence_ru(self) -> str:
        what = f"{ATTRIBUTES_RU[self.attribute]} {self.after}"
        when = russian_date(self.changed_at)
        before, after = _pct(self.conversion_before), _pct(self.conversion_after)
        if self.significant:
            verb = "упала" if self.worse else "выросла"
            advice = " — подумайте об откате" if self.worse else ""
            p = _p(self.p_value)
            return f"После перехода на {what} {when} конверсия {verb} с {before} до {after} (p{p}){advice}."
        if self.too_little_data:
            return (
                f"После перехода на {what} {when} конверсия {before} → {after}: данных пока мало "
                f"(нужно около {self.needed} разговоров до и после)."
            )
        return f"После перехода на {what} {when} конверсия {before} → {after}: значимого изменения нет."

    @property
    def sentence_en(self) -> str:
        what = f"{ATTRIBUTES_EN[self.attribute]} {self.after}"
        when = self.changed_at.astimezone(MOSCOW).strftime("%d %b")  # the day russian_date names
        before, after = _pct(self.conversion_before), _pct(self.conversion_after)
        if self.significant:
            verb = "fell" if self.worse else "rose"
            advice = " — consider rolling back" if self.worse else ""
            p = f"{self.p_value:.2g}"
            return f"After the switch to {what} on {when} conversion {verb} from {before} to {after} (p={p}){advice}."
        if self.too_little_data:
            return (
                f"After the switch to {what} on {when} conversion {before} → {after}: not enough data yet "
                f"(about {self.needed} conversations needed before and after)."
            )
        return f"After the switch to {what} on {when} conversion {before} → {after}: no significant change."


@dataclass(frozen=True)
class VariantComparison:
    """Live A/B variants over the same period: each against the best of the others."""

    variant: str
    other: str
    side: Side
    other_side: Side
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def russian_date(moment: datetime, zone: timezone = MOSCOW) -> str:
    local = moment.astimezone(zone)
    return f"{local.day} {_MONTHS_RU[local.month - 1]}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _p(value: float) -> str:
    return "=" + f"{value:.2f}".replace(".", ",") if value >= 0.01 else "<0,01"


def side_of(conversations: Sequence[ConversationFacts]) -> Side:
    turns = [t for c in conversations for t in c.turns]
    return Side(
        conversations=len(conversations),
        booked=sum(c.booked for c in conversations),
        turns=len(turns),
        slow_turns=sum(t.slow for t in turns),
        low_confidence_turns=sum(t.confidence is not None and t.confidence < 0.6 for t in turns),
        lead_creates=sum(c.lead_creates for c in conversations),
        lead_failures=sum(c.lead_failures for c in conversations),
        reply_p50_s=round(median(t.seconds for t in turns), 3) if turns else None,
    )


def switches(values: Sequence[tuple[int, str]], dominance: float = 0.8) -> list[tuple[int, str, str]]:
    """(time_ns, old value, new value) of every switch in a time-ordered (time_ns, value) sequence."""
    first_seen: dict[str, int] = {}
    for index, (_time, value) in enumerate(values):
        first_seen.setdefault(value, index)
    found = []
    for value, start in sorted(first_seen.items(), key=lambda item: item[1]):
        if start == 0:
            continue
        before = Counter(v for _, v in values[:start])
        after = [v for _, v in values[start:]]
        old, _count = before.most_common(1)[0]
        if old != value and after.count(value) >= dominance * len(after):
            found.append((values[start][0], old, value))
    return found


def find_changes(journal: Journal, since: datetime, until: datetime, **options: Any) -> list[ChangeImpact]:
    """Read the window's conversations from ``journal`` and measure every switch (options: measure_changes)."""
    return measure_changes(journal.facts(since, until, options.pop("progress", None)), **options)


def measure_changes(
    conversations: Sequence[ConversationFacts], *, min_side: int = 30, dominance: float = 0.8
) -> list[ChangeImpact]:
    impacts = []
    for attribute in ATTRIBUTES:
        known = [c for c in conversations if getattr(c, attribute) != UNKNOWN]
        points = switches([(c.started_ns, getattr(c, attribute)) for c in known], dominance)
        bounds = [0] + [t for t, _, _ in points] + [2**63]
        for number, (at_ns, old, new) in enumerate(points):
            before = [c for c in known if bounds[number] <= c.started_ns < at_ns and getattr(c, attribute) == old]
            after = [c for c in known if at_ns <= c.started_ns < bounds[number + 2] and getattr(c, attribute) == new]
            side_before, side_after = side_of(before), side_of(after)
            test = TwoProportions(side_after.booked, side_after.conversations, side_before.booked, len(before))
            base = side_before.conversion if side_before.conversion is not None else 0.5
            impacts.append(
                ChangeImpact(
                    attribute=attribute,
                    before=old,
                    after=new,
                    changed_at=datetime.fromtimestamp(at_ns / 1e9, UTC),
                    side_before=side_before,
                    side_after=side_after,
                    p_value=test.p_two_sided,
                    min_sample=sample_size(base, max(0.0, base - DETECTABLE_CHANGE)),
                    min_side=min_side,
                )
            )
    return sorted(impacts, key=lambda impact: impact.changed_at)


def compare_variants(conversations: Sequence[ConversationFacts], min_side: int = 30) -> list[VariantComparison]:
    groups: dict[str, list[ConversationFacts]] = {}
    for conversation in conversations:
        if conversation.variant != UNKNOWN:
            groups.setdefault(conversation.variant, []).append(conversation)
    sides = {name: side_of(members) for name, members in groups.items() if len(members) >= min_side}
    found = []
    for name, side in sorted(sides.items()):
        others = {k: v for k, v in sides.items() if k != name}
        if not others:
            continue
        best = max(others, key=lambda k: others[k].conversion or 0.0)
        test = TwoProportions(side.booked, side.conversations, others[best].booked, others[best].conversations)
        found.append(VariantComparison(name, best, side, others[best], test.p_two_sided))
    return found
