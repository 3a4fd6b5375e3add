"""``botwatch report``: the owner's week, collected from one source.

The week is whole calendar days in the business's time zone
(``BOTWATCH_TIMEZONE``, default Europe/Moscow) ending now: ``--since 7d`` is
today and the six days before, from local midnight.  The previous week is the
same number of whole days just before it.  Each day is one bar, today's
included.  Every number comes from :meth:`Source.kpi` over exactly these
windows — the same numbers ``botwatch kpi --since <since> --until <until>``
prints (for a tenant with its own SLA seconds or confidence floor, the late
and not-understood turns are counted again at those edges: ``at_targets``).
Where clients are lost (``journal.insights``) and what a change did
(``journal.impact``) are read from the journal; the stack source has neither.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from botwatch.audit.source import Source
from botwatch.audit.targets import TARGETS, Targets
from botwatch.journal import EntryKind, Journal, Kpi
from botwatch.journal.journal_error import explain
from botwatch.journal.kpi import CLIENT_TURN
from botwatch.journal.readonly import connect_read_only
from botwatch.journal.rows import FAMILY_TURN
from botwatch.journal.tenant_scope import restrict
from botwatch.masking import mask

MAX_DAYS = 31
TOP_FINDINGS = 3
DIALOGUE_LINES = 8  # of one example conversation
LINE_CHARS = 220

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Day:
    day: date
    kpi: Kpi
    today: bool


@dataclass(frozen=True)
class Example:
    conversation_id: str
    lines: tuple[tuple[str, str], ...]  # ("client" | "bot", masked text)


@dataclass(frozen=True)
class ReportData:
    since: datetime
    until: datetime
    tz: tzinfo
    current: Kpi
    previous: Kpi
    days: list[Day]
    findings: list[Any] = field(default_factory=list)  # journal.insights.Finding, top 3
    examples: dict[str, Example] = field(default_factory=dict)  # by conversation id
    changes: list[Any] = field(default_factory=list)  # journal.impact.ChangeImpact
    analysed: bool = False  # insights and change impact ran (journal source, modules present)
    targets: Targets = TARGETS  # the defaults, or a tenant's own (tenants file)

    @property
    def previous_empty(self) -> bool:
        """The one "no data" rule: a previous week without conversations is compared with nothing."""
        return self.previous.conversations == 0


def week_bounds(period: timedelta, until: datetime, tz: tzinfo) -> tuple[datetime, list[date]]:
    """(start of the first whole local day, the calendar days ending with today)."""
    count = min(max(math.ceil(period / timedelta(days=1)), 1), MAX_DAYS)
    today = until.astimezone(tz).date()
    days = [today - timedelta(days=n) for n in range(count - 1, -1, -1)]
    return _midnight(days[0], tz), days


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


def collect(
    source: Source,
    period: timedelta,
    tz: tzinfo,
    until: datetime | None = None,
    progress: Progress | None = None,
    targets: Targets = TARGETS,
) -> ReportData:
    say = progress or (lambda _step: None)
    end = until or datetime.now(UTC)
    since, days = week_bounds(period, end, tz)
    journal = getattr(source, "journal", None)
    say("week")
    current = source.kpi(end - since, end)
    previous_start = _midnight(days[0] - timedelta(days=len(days)), tz)
    previous = source.kpi(since - previous_start, since)
    bars = []
    for n, day in enumerate(days, 1):
        say(f"day {n}/{len(days)}")
        day_end = min(_midnight(day + timedelta(days=1), tz), end)
        bars.append(Day(day, source.kpi(day_end - _midnight(day, tz), day_end), day == days[-1]))
    if isinstance(journal, Journal):
        current, previous, *counted = at_targets(journal, [current, previous, *(d.kpi for d in bars)], targets)
        bars = [dataclasses.replace(d, kpi=k) for d, k in zip(bars, counted, strict=True)]
    data = ReportData(since, end, tz, current, previous, bars, targets=targets)
    if journal is None:
        return data
    try:
        from botwatch.journal.impact import find_changes
        from botwatch.journal.insights import find_losses
    except ImportError:  # a build without them: the report shows the numbers only
        return data
    say("where clients are lost")
    findings = list(find_losses(journal, since, end, progress=say).findings)[:TOP_FINDINGS]
    say("changes")
    changes = list(find_changes(journal, since, end))
    examples = {}
    for finding in findings:
        if finding.examples:
            cid = finding.examples[0]
            examples[cid] = example(source, cid)
    return ReportData(since, end, tz, current, previous, bars, findings, examples, changes, True, targets)


def at_targets(journal: Journal, kpis: list[Kpi], targets: Targets) -> list[Kpi]:
    """``kpis`` with the late and not-understood turns counted at ``targets``' edges (the journal's are the defaults).

    Late: a timed turn longer than ``targets.sla_seconds``; not understood: an
    intent with confidence under ``targets.confidence_floor`` — the journal's
    own rules (``journal.kpi``) at other edges, over the same client turns.
    """
    if (targets.sla_seconds, targets.confidence_floor) == (TARGETS.sla_seconds, TARGETS.confidence_floor):
        return kpis
    conn = connect_read_only(journal.path)
    try:
        return _recount(conn, journal.tenant, kpis, targets)
    except sqlite3.Error as error:
        raise explain(journal.path, error) from error
    finally:
        conn.close()


def _recount(conn: sqlite3.Connection, tenant: str | None, kpis: list[Kpi], targets: Targets) -> list[Kpi]:
    if tenant is not None:
        restrict(conn, tenant)
    counted = []
    for kpi in kpis:
        over, low = conn.execute(
            """SELECT COALESCE(SUM(sla_breached IS NOT NULL AND duration_ns > ?), 0),
                      COALESCE(SUM(intent IS NOT NULL AND confidence < ?), 0)
               FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ? AND """
            + CLIENT_TURN,
            (
                round(targets.sla_seconds * 1e9),
                targets.confidence_floor,
                FAMILY_TURN,
                _ns(kpi.since),
                _ns(kpi.until),
            ),
        ).fetchone()
        counted.append(dataclasses.replace(kpi, turns_over_sla=over, low_confidence_turns=low))
    return counted


def _ns(moment: datetime) -> int:
    """As the journal's windows are cut (journal.kpi)."""
    return (moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def example(source: Source, conversation_id: str) -> Example:
    """The first lines of one conversation, phones, e-mails and secrets masked again."""
    lines: list[tuple[str, str]] = []
    for entry in source.replay(conversation_id):
        if entry.kind not in (EntryKind.CLIENT, EntryKind.BOT) or not entry.text:
            continue
        text = mask(entry.text, lambda _kind, _value: "•••")
        if len(text) > LINE_CHARS:
            text = text[: LINE_CHARS - 1] + "…"
        lines.append(("client" if entry.kind is EntryKind.CLIENT else "bot", text))
        if len(lines) == DIALOGUE_LINES:
            break
    return Example(conversation_id, tuple(lines))


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def values(days: Sequence[Day], get: Callable[[Kpi], float | None]) -> list[float | None]:
    return [get(d.kpi) for d in days]
