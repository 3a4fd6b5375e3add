"""The owner's numbers over a time window, computed by indexed SQL aggregates.

Definitions (window = [since, until), by each record's own timestamp):

- conversion chat→booking: of the conversations started in the window
  (``conversation_started``), the share that reached ``booking_created``
  (at any time before ``until``);
- no-show rate: ``no_show`` / (``no_show`` + ``visit_completed``) events;
- SLA: share of turns with ``botwatch.sla.breached`` or longer than SLA_SECONDS;
- p50/p95 turn time: nearest-rank percentiles of turn span durations;
- low confidence: share of turns with an intent whose confidence < LOW_CONFIDENCE;
- lead creation failures: CRM spans of action ``lead.create`` with outcome error;
- escalations: ``escalated`` funnel events; tokens: usage on ``chat`` spans;
- closed without a human: of the conversations started in the window, the
  share with no ``escalated`` event (before ``until``);
- no-shows after a reminder vs without: no-show rate of the appointments
  (``no_show`` / ``visit_completed`` in the window) whose conversation had a
  ``reminder_sent`` before the outcome, and of the others;
- rescheduled, complaints: ``rescheduled`` / ``complaint`` funnel events;
- coverage: the ``service.name`` of the turns in the window and the demo runs
  (seeds of ``demo-<seed>-<n>`` conversations) started in it, so a reader
  sees which runs and bots the numbers cover;
- a conversation counts once the client wrote in it (at least one turn): a
  chat the bot only sends to (reminders to an admin group) is not an обращение;
- turns and conversations are clients' only: updates no handler took
  (``botwatch.update.unhandled``) and chats marked ``botwatch.chat.non_client``
  (an admin group) are left out.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botwatch import semconv
from botwatch.journal.rows import FAMILY_CHAT, FAMILY_CRM, FAMILY_TURN

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Not a client's turn: an update no handler took, or a chat marked non-client (an admin group).
# The integrations write these attributes only as ``true``; a substring test avoids parsing JSON per row.
_NON_CLIENT = f"instr(attributes, '\"{semconv.CHAT_NON_CLIENT}\":true') > 0"
_CLIENT_TURN = f"NOT (instr(attributes, '\"{semconv.UPDATE_UNHANDLED}\":true') > 0 OR {_NON_CLIENT})"
CLIENT_TURN = _CLIENT_TURN  # the same filter for other readers of turns (journal.facts)


@dataclass(frozen=True)
class Kpi:
    since: datetime
    until: datetime
    conversations: int
    conversations_booked: int
    turns: int
    turns_over_sla: int
    turn_p50_s: float | None
    turn_p95_s: float | None
    turns_with_intent: int
    low_confidence_turns: int
    no_shows: int
    visits_completed: int
    escalations: int
    lead_creates: int
    lead_create_failures: int
    llm_calls: int
    input_tokens: int
    output_tokens: int
    llm_cost: float
    # None where a source cannot tell (Prometheus has no per-conversation view).
    conversations_escalated: int | None = None
    no_shows_reminded: int | None = None
    visits_reminded: int | None = None
    rescheduled: int = 0
    complaints: int = 0
    services: tuple[str, ...] = ()
    demo_runs: tuple[int, ...] = ()
    timed_turns: int | None = None  # turns with a measured reply time (None: every turn)

    @property
    def conversion(self) -> float | None:
        return _ratio(self.conversations_booked, self.conversations)

    @property
    def no_show_rate(self) -> float | None:
        return _ratio(self.no_shows, self.no_shows + self.visits_completed)

    @property
    def sla_breach_share(self) -> float | None:
        return _ratio(self.turns_over_sla, self.turns if self.timed_turns is None else self.timed_turns)

    @property
    def low_confidence_share(self) -> float | None:
        return _ratio(self.low_confidence_turns, self.turns_with_intent)

    @property
    def lead_failure_rate(self) -> float | None:
        return _ratio(self.lead_create_failures, self.lead_creates)

    @property
    def closed_without_human(self) -> float | None:
        if self.conversations_escalated is None:
            return None
        return _ratio(self.conversations - self.conversations_escalated, self.conversations)

    @property
    def no_show_rate_reminded(self) -> float | None:
        if self.no_shows_reminded is None or self.visits_reminded is None:
            return None
        return _ratio(self.no_shows_reminded, self.no_shows_reminded + self.visits_reminded)

    @property
    def no_show_rate_unreminded(self) -> float | None:
        if self.no_shows_reminded is None or self.visits_reminded is None:
            return None
        no_shows = self.no_shows - self.no_shows_reminded
        return _ratio(no_shows, no_shows + self.visits_completed - self.visits_reminded)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def compute_kpi(conn: sqlite3.Connection, since: datetime, until: datetime) -> Kpi:
    window = (_ns(since), _ns(until))
    conversations, booked, escalated = _conversion(conn, *window)
    stages = _stage_counts(
        conn,
        *window,
        (semconv.NO_SHOW, semconv.VISIT_COMPLETED, semconv.ESCALATED, semconv.RESCHEDULED, semconv.COMPLAINT),
    )
    turns, timed, over_sla, with_intent, low = conn.execute(
        """SELECT COUNT(*), COUNT(sla_breached), COALESCE(SUM(sla_breached), 0),
                  COALESCE(SUM(intent IS NOT NULL), 0),
                  COALESCE(SUM(intent IS NOT NULL AND confidence < ?), 0)
           FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ? AND """
        + _CLIENT_TURN,
        (semconv.LOW_CONFIDENCE, FAMILY_TURN, *window),
    ).fetchone()
    leads, lead_failures = conn.execute(
        """SELECT COUNT(*), COALESCE(SUM(crm_outcome = ?), 0)
           FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ? AND crm_action = ?""",
        (semconv.CRM_OUTCOME_ERROR, FAMILY_CRM, *window, semconv.CRM_ACTION_LEAD_CREATE),
    ).fetchone()
    calls, tokens_in, tokens_out, cost = conn.execute(
        """SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                  COALESCE(SUM(llm_cost), 0.0)
           FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ?""",
        (FAMILY_CHAT, *window),
    ).fetchone()
    return Kpi(
        since=since,
        until=until,
        conversations=conversations,
        conversations_booked=booked,
        turns=turns,
        turns_over_sla=over_sla,
        timed_turns=timed,
        turn_p50_s=_turn_percentile(conn, *window, timed, 0.50),
        turn_p95_s=_turn_percentile(conn, *window, timed, 0.95),
        turns_with_intent=with_intent,
        low_confidence_turns=low,
        no_shows=stages[semconv.NO_SHOW],
        visits_completed=stages[semconv.VISIT_COMPLETED],
        escalations=stages[semconv.ESCALATED],
        lead_creates=leads,
        lead_create_failures=lead_failures,
        llm_calls=calls,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        llm_cost=float(cost),
        conversations_escalated=escalated,
        no_shows_reminded=_reminded(conn, *window, semconv.NO_SHOW),
        visits_reminded=_reminded(conn, *window, semconv.VISIT_COMPLETED),
        rescheduled=stages[semconv.RESCHEDULED],
        complaints=stages[semconv.COMPLAINT],
        services=_services(conn, *window),
        demo_runs=_demo_runs(conn, *window),
    )


def _ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _conversion(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> tuple[int, int, int]:
    started, booked, escalated = conn.execute(
        """SELECT COUNT(DISTINCT s.conversation_id),
                  COUNT(DISTINCT CASE WHEN EXISTS (
                      SELECT 1 FROM funnel b
                      WHERE b.conversation_id = s.conversation_id AND b.stage = ? AND b.time_ns < ?
                  ) THEN s.conversation_id END),
                  COUNT(DISTINCT CASE WHEN EXISTS (
                      SELECT 1 FROM funnel b
                      WHERE b.conversation_id = s.conversation_id AND b.stage = ? AND b.time_ns < ?
                  ) THEN s.conversation_id END)
           FROM funnel s WHERE s.stage = ? AND s.time_ns >= ? AND s.time_ns < ?
                AND EXISTS (SELECT 1 FROM spans t WHERE t.conversation_id = s.conversation_id AND t.family = ?)
                AND NOT EXISTS (SELECT 1 FROM spans r WHERE r.id = s.span_row AND """
        + _NON_CLIENT.replace("attributes", "r.attributes")
        + ")",
        (
            semconv.BOOKING_CREATED,
            until_ns,
            semconv.ESCALATED,
            until_ns,
            semconv.CONVERSATION_STARTED,
            since_ns,
            until_ns,
            FAMILY_TURN,
        ),
    ).fetchone()
    return int(started), int(booked), int(escalated)


def _reminded(conn: sqlite3.Connection, since_ns: int, until_ns: int, stage: str) -> int:
    """``stage`` events in the window whose conversation had a reminder sent before them."""
    (count,) = conn.execute(
        """SELECT COUNT(*) FROM funnel o WHERE o.stage = ? AND o.time_ns >= ? AND o.time_ns < ?
             AND EXISTS (SELECT 1 FROM funnel r WHERE r.conversation_id = o.conversation_id
                         AND r.stage = ? AND r.time_ns <= o.time_ns)""",
        (stage, since_ns, until_ns, semconv.REMINDER_SENT),
    ).fetchone()
    return int(count)


def _services(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> tuple[str, ...]:
    rows = conn.execute(
        """SELECT DISTINCT json_extract(r.attributes, '$."service.name"') FROM resources r
           WHERE r.id IN (SELECT DISTINCT resource_id FROM spans
                          WHERE family = ? AND start_ns >= ? AND start_ns < ?)""",
        (FAMILY_TURN, since_ns, until_ns),
    ).fetchall()
    return tuple(sorted(str(name) for (name,) in rows if name))


def _demo_runs(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> tuple[int, ...]:
    """Seeds of the ``botwatch demo`` runs whose conversations started in the window."""
    rows = conn.execute(
        """SELECT DISTINCT substr(conversation_id, 6, instr(substr(conversation_id, 6), '-') - 1)
           FROM funnel WHERE stage = ? AND time_ns >= ? AND time_ns < ? AND conversation_id LIKE 'demo-%-%'""",
        (semconv.CONVERSATION_STARTED, since_ns, until_ns),
    ).fetchall()
    return tuple(sorted(int(seed) for (seed,) in rows if str(seed).isdigit()))


def _stage_counts(conn: sqlite3.Connection, since_ns: int, until_ns: int, stages: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(stages, 0)
    for stage in stages:
        (counts[stage],) = conn.execute(
            "SELECT COUNT(*) FROM funnel WHERE stage = ? AND time_ns >= ? AND time_ns < ?",
            (stage, since_ns, until_ns),
        ).fetchone()
    return counts


def _turn_percentile(conn: sqlite3.Connection, since_ns: int, until_ns: int, turns: int, q: float) -> float | None:
    if turns == 0:
        return None
    rank = max(1, math.ceil(q * turns))
    row = conn.execute(
        """SELECT duration_ns FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ?
           AND sla_breached IS NOT NULL AND """
        + _CLIENT_TURN
        + """
           ORDER BY duration_ns LIMIT 1 OFFSET ?""",
        (FAMILY_TURN, since_ns, until_ns, rank - 1),
    ).fetchone()
    return None if row is None else row[0] / 1e9
