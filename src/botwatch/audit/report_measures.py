"""The report's numbers: each one a ``botwatch kpi --json`` key, its owner's name, its target.

The rule for comparing with the previous week is here, once: a previous
week without conversations is "нет данных за прошлую неделю" on every card;
otherwise a value the previous week cannot have (no visits, no leads) is
that same phrase, never a change from "—".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botwatch.audit.report_text import count, percent, points, span_key, t
from botwatch.audit.targets import TARGETS, Targets
from botwatch.journal import Kpi

FLAT_PP = 0.05  # changes smaller than this (percentage points) read "as last week"


@dataclass(frozen=True)
class Measure:
    key: str  # the kpi --json key of the headline value
    title: str  # report_text key
    value: Callable[[Kpi], float | None]
    percent: bool
    better: str  # "up" or "down"
    target: float | None = None  # a share, at most


MEASURES = (
    Measure("conversations", "conversations", lambda k: float(k.conversations), False, "up"),
    Measure("conversion", "conversion", lambda k: k.conversion, True, "up"),
    Measure("closed_without_human", "closed", lambda k: k.closed_without_human, True, "up"),
    Measure("no_show_rate", "no_shows", lambda k: k.no_show_rate, True, "down"),
    Measure("sla_breach_share", "sla", lambda k: k.sla_breach_share, True, "down", TARGETS.sla_share),
    Measure(
        "low_confidence_share",
        "confidence",
        lambda k: k.low_confidence_share,
        True,
        "down",
        TARGETS.low_confidence_share,
    ),
    Measure("lead_failure_rate", "leads", lambda k: k.lead_failure_rate, True, "down", TARGETS.lead_failure_share),
)


def target(measure: Measure, targets: Targets = TARGETS) -> float | None:
    """The share ``measure`` should stay at or under, by ``targets`` (a tenant's own or the defaults)."""
    if measure.target is None:
        return None
    own = {
        "sla_breach_share": targets.sla_share,
        "low_confidence_share": targets.low_confidence_share,
        "lead_failure_rate": targets.lead_failure_share,
    }
    return own.get(measure.key, measure.target)


def title(lang: str, measure: Measure, targets: Targets = TARGETS) -> str:
    return t(lang, measure.title, seconds=f"{targets.sla_seconds:g}")


def shown(lang: str, measure: Measure, kpi: Kpi) -> str:
    value = measure.value(kpi)
    if measure.percent or value is None:
        return percent(lang, value)
    return count(int(value))


def detail(lang: str, measure: Measure, kpi: Kpi, targets: Targets = TARGETS) -> list[tuple[str, str | None]]:
    """The line under the value as (text, kpi key) parts: keyed parts are numbers ``kpi --json`` holds."""
    n, key = count, measure.key
    if key == "conversations":
        return [(t(lang, "conversations_detail"), None)]
    if key == "conversion":
        booked, whole = (n(kpi.conversations_booked), "conversations_booked"), (n(kpi.conversations), "conversations")
        return _fill(lang, "conversion_detail", booked=booked, all=whole)
    if key == "closed_without_human":
        if kpi.conversations_escalated is None:  # the stack cannot tell
            return []
        closed = (n(kpi.conversations - kpi.conversations_escalated), "conversations_without_human")
        escalated = (n(kpi.conversations_escalated), "conversations_escalated")
        return _fill(
            lang, "closed_detail", closed=closed, all=(n(kpi.conversations), "conversations"), escalated=escalated
        )
    if key == "no_show_rate":
        visits = (n(kpi.no_shows + kpi.visits_completed), "appointments")
        line = _fill(lang, "no_shows_detail", no_shows=(n(kpi.no_shows), "no_shows"), visits=visits)
        if kpi.no_shows_reminded is None:
            return line
        reminded = (percent(lang, kpi.no_show_rate_reminded), "no_show_rate_reminded")
        unreminded = (percent(lang, kpi.no_show_rate_unreminded), "no_show_rate_unreminded")
        return [*line, ("; ", None), *_fill(lang, "no_shows_reminded", reminded=reminded, unreminded=unreminded)]
    if key == "sla_breach_share":
        return _fill(lang, "sla_detail", late=(n(kpi.turns_over_sla), "turns_over_sla"), turns=(n(kpi.turns), "turns"))
    if key == "low_confidence_share":
        floor = f"{targets.confidence_floor:g}"
        return _fill(
            lang,
            "confidence_detail",
            low=(n(kpi.low_confidence_turns), "low_confidence_turns"),
            turns=(n(kpi.turns_with_intent), "turns_with_intent"),
            floor=(floor.replace(".", ",") if lang == "ru" else floor, "low_confidence_threshold"),
        )
    failed, whole = (n(kpi.lead_create_failures), "lead_create_failures"), (n(kpi.lead_creates), "lead_creates")
    return _fill(lang, "leads_detail", failed=failed, all=whole)


def moves(lang: str, kpi: Kpi) -> list[tuple[str, str | None]]:
    return _fill(
        lang,
        "moves_detail",
        rescheduled=(count(kpi.rescheduled), "rescheduled"),
        complaints=(count(kpi.complaints), "complaints"),
    )


def _fill(lang: str, key: str, **values: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    """The template ``key`` cut into literal text and keyed values, in order."""
    template = t(lang, key)
    out: list[tuple[str, str | None]] = []
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        name, _, rest = after.partition("}")
        if before:
            out.append((before, None))
        out.append(values[name])
    if rest:
        out.append((rest, None))
    return out


def on_target(measure: Measure, kpi: Kpi, targets: Targets = TARGETS) -> bool | None:
    value, most = measure.value(kpi), target(measure, targets)
    if most is None or value is None:
        return None
    return value <= most


def compare(lang: str, measure: Measure, now: Kpi, before: Kpi, days: int = 7) -> tuple[str, str]:
    """(text, css class: good / bad / flat) of the change since the previous week (or ``days``)."""
    a, b = measure.value(now), measure.value(before)
    if before.conversations == 0 or a is None or b is None:
        return t(lang, span_key("no_previous", days)), "flat"
    was = shown(lang, measure, before)
    if measure.percent:
        diff = (a - b) * 100
        if abs(diff) < FLAT_PP:
            return t(lang, span_key("vs_same", days), before=was), "flat"
        text = points(lang, diff)
    else:
        diff = a - b
        if diff == 0:
            return t(lang, span_key("vs_same", days), before=was), "flat"
        text = f"{diff:+.0f}"
    good = (diff > 0) == (measure.better == "up")
    return t(lang, span_key("vs", days), diff=text, before=was), "good" if good else "bad"
