"""``botwatch report``: the owner's weekly report as one self-contained HTML file.

Each KPI shows this period's value (the same numbers ``botwatch kpi`` prints
for the same data), the previous period's and the change, with a chart per
day; then the conversations that went worst.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botwatch import semconv
from botwatch.audit import charts
from botwatch.audit.source import Source
from botwatch.journal import Kpi, format_kpi_table
from botwatch.journal.format import format_count, format_percent
from botwatch.journal.sessions import SessionFilter, SessionSummary

MAX_DAYS = 31
TOP_PROBLEMS = 10
PROBLEM_CANDIDATES = 200


@dataclass(frozen=True)
class Measure:
    key: str
    title: str
    value: Callable[[Kpi], float | None]
    detail: Callable[[Kpi], str]
    percent: bool
    better: str  # "up" or "down"
    threshold: float | None = None


MEASURES = (
    Measure(
        "conversion",
        "Conversion chat → booking",
        lambda k: k.conversion,
        lambda k: f"{format_count(k.conversations_booked)} of {format_count(k.conversations)} conversations",
        True,
        "up",
    ),
    Measure(
        "no_shows",
        "No-show rate",
        lambda k: k.no_show_rate,
        lambda k: f"{format_count(k.no_shows)} of {format_count(k.no_shows + k.visits_completed)} appointments",
        True,
        "down",
    ),
    Measure(
        "sla",
        f"Turns over {semconv.SLA_SECONDS:g} s",
        lambda k: k.sla_breach_share,
        lambda k: f"{format_count(k.turns_over_sla)} of {format_count(k.turns)} turns",
        True,
        "down",
    ),
    Measure(
        "confidence",
        f"Intents below {semconv.LOW_CONFIDENCE:g} confidence",
        lambda k: k.low_confidence_share,
        lambda k: f"{format_count(k.low_confidence_turns)} of {format_count(k.turns_with_intent)} intents",
        True,
        "down",
    ),
    Measure(
        "lead_failures",
        "Lead creation failures",
        lambda k: float(k.lead_create_failures),
        lambda k: (
            f"{format_percent(k.lead_failure_rate)} of {format_count(k.lead_creates)} "
            f"{semconv.CRM_ACTION_LEAD_CREATE} calls"
        ),
        False,
        "down",
    ),
)


@dataclass(frozen=True)
class ReportData:
    until: datetime
    period: timedelta
    current: Kpi
    previous: Kpi
    days: list[tuple[datetime, Kpi]]
    problems: list[SessionSummary]
    source: str


def collect(source: Source, period: timedelta, until: datetime | None = None) -> ReportData:
    end = until or datetime.now(UTC)
    current = source.kpi(period, end)
    previous = source.kpi(period, end - period)
    day_count = min(max(math.ceil(period / timedelta(days=1)), 1), MAX_DAYS)
    days = [(end - timedelta(days=n), source.kpi(timedelta(days=1), end - timedelta(days=n))) for n in range(day_count)]
    days.reverse()
    candidates = source.sessions(SessionFilter(any_problem=True), end - period, end, limit=PROBLEM_CANDIDATES)
    problems = sorted(candidates, key=lambda s: (s.problem_score, s.started_ns), reverse=True)[:TOP_PROBLEMS]
    return ReportData(end, period, current, previous, days, problems, source.description)


def _value(measure: Measure, kpi: Kpi) -> str:
    value = measure.value(kpi)
    if measure.percent:
        return format_percent(value)
    return format_count(int(value or 0))


def change(measure: Measure, now: Kpi, before: Kpi) -> tuple[str, str]:
    """(text, css class) of the change since the previous period."""
    a, b = measure.value(now), measure.value(before)
    if a is None or b is None:
        return "no data to compare", "flat"
    diff = (a - b) * 100 if measure.percent else a - b
    if abs(diff) < 0.05:
        return "no change", "flat"
    unit = " pp" if measure.percent else ""
    text = f"{diff:+.1f}{unit}" if measure.percent else f"{diff:+.0f}"
    good = (diff > 0) == (measure.better == "up")
    return f"{text} vs previous period", "good" if good else "bad"


def render(data: ReportData) -> str:
    e = html.escape
    labels = [f"{day - timedelta(days=1):%d.%m}" for day, _ in data.days]
    cards = []
    for m in MEASURES:
        chart = charts.daily_chart(
            f"{m.title}, per day", labels, [m.value(k) for _, k in data.days], percent=m.percent, threshold=m.threshold
        )
        delta, css = change(m, data.current, data.previous)
        cards.append(
            f'<section class="kpi" id="{m.key}"><h2>{e(m.title)}</h2>'
            f'<p><span class="value">{e(_value(m, data.current))}</span> '
            f'<span class="detail">{e(m.detail(data.current))}</span></p>'
            f'<p class="change {css}">{e(delta)} (previous: {e(_value(m, data.previous))})</p>'
            f'<img alt="{e(m.title)} per day" src="data:image/png;base64,{chart}"></section>'
        )
    problems = _problems(data.problems)
    since = data.until - data.period
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>botwatch report {since:%Y-%m-%d} – {data.until:%Y-%m-%d}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 760px; color: #1f2933; }}
section {{ border-top: 1px solid #d9e2ec; padding: .6em 0; }}
.value {{ font-size: 1.8em; font-weight: bold; }} .detail {{ color: #52606d; }}
.change.good {{ color: #2f8132; }} .change.bad {{ color: #c0392b; }} .change.flat {{ color: #52606d; }}
img {{ max-width: 100%; }} table {{ border-collapse: collapse; font-size: .9em; }}
td, th {{ padding: .2em .6em; border-bottom: 1px solid #eee; text-align: left; }}
pre {{ background: #f5f7fa; padding: .8em; font-size: .85em; }}
</style></head><body>
<h1>Bot report {since:%Y-%m-%d %H:%M} → {data.until:%Y-%m-%d %H:%M} UTC</h1>
<p>Source: {e(data.source)}. Changes compare with the {e(_days(data.period))} before.</p>
{"".join(cards)}
{problems}
<section id="kpi-table"><h2>All numbers</h2><pre>{e(format_kpi_table(data.current))}</pre></section>
</body></html>
"""


def _days(period: timedelta) -> str:
    days = period / timedelta(days=1)
    return f"{days:g} days" if days != 1 else "day"


def _problems(problems: list[SessionSummary]) -> str:
    e = html.escape
    if not problems:
        return '<section id="problems"><h2>Top problem conversations</h2><p>None in this period.</p></section>'
    chart = charts.ranking_chart(
        "Problem score (low confidence + slow turns + 2×CRM failures + 2×escalation)",
        [p.conversation_id for p in problems],
        [p.problem_score for p in problems],
    )
    rows = "".join(
        f"<tr><td>{e(p.conversation_id)}</td><td>{e(p.channel or '')}</td><td>{p.turns}</td>"
        f"<td>{'' if p.min_confidence is None else f'{p.min_confidence:.2f}'}</td><td>{p.sla_breaches}</td>"
        f"<td>{p.crm_failures}</td><td>{e(', '.join(p.stages))}</td><td>{p.problem_score}</td></tr>"
        for p in problems
    )
    return (
        '<section id="problems"><h2>Top problem conversations</h2>'
        f'<img alt="problem conversations" src="data:image/png;base64,{chart}">'
        "<table><tr><th>conversation</th><th>channel</th><th>turns</th><th>lowest confidence</th>"
        f"<th>over SLA</th><th>CRM failures</th><th>funnel</th><th>score</th></tr>{rows}</table>"
        "<p>Read one with <code>botwatch replay &lt;conversation&gt;</code>.</p></section>"
    )
