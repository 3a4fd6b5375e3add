"""Audit queries: conversations matching filters, their summaries, low-confidence turns, log streams.

Every query is an index range scan: conversations by ``spans_by_family``
(newest first, stopping at the page), per-conversation checks by
``spans_by_conversation``, log records by ``logs_by_time``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botwatch import semconv
from botwatch.journal.rows import FAMILY_CONVERSATION, FAMILY_CRM, FAMILY_TURN

_VARIANT_PATH = f'$."{semconv.SCENARIO_VARIANT}"'
_PHONE_PATH = f'$."{semconv.CLIENT_PHONE_MASKED}"'


@dataclass(frozen=True)
class SessionFilter:
    """What ``botwatch sessions`` narrows by; every given condition must hold."""

    channel: str | None = None
    intent: str | None = None
    variant: str | None = None
    low_confidence: bool = False
    sla_breached: bool = False
    crm_failed: bool = False
    any_problem: bool = False  # low confidence OR over the SLA OR a failed CRM call


@dataclass(frozen=True)
class SessionSummary:
    conversation_id: str
    started_ns: int
    channel: str | None
    variant: str | None = None
    trace_id: str | None = None
    turns: int = 0
    min_confidence: float | None = None
    low_confidence_turns: int = 0
    sla_breaches: int = 0
    crm_failures: int = 0
    stages: tuple[str, ...] = field(default=())

    @property
    def problem_score(self) -> int:
        escalated = int(semconv.ESCALATED in self.stages)
        return self.low_confidence_turns + self.sla_breaches + 2 * self.crm_failures + 2 * escalated


@dataclass(frozen=True)
class LowConfidenceTurn:
    conversation_id: str
    turn_index: int | None
    time_ns: int
    intent: str | None
    confidence: float
    channel: str | None
    text: str | None = None


@dataclass(frozen=True)
class LogLine:
    """One log record as the audit reads it (journal row or Loki line)."""

    time_ns: int
    event_name: str | None
    body: str | None
    conversation_id: str | None
    channel: str | None
    turn_index: int | None
    attributes: dict[str, Any]
    trace_id: str | None = None


_TURN_EXISTS = "EXISTS (SELECT 1 FROM spans t WHERE t.conversation_id = c.conversation_id AND t.family = ? AND {})"
_LOW = "t.intent IS NOT NULL AND t.confidence < ?"
_SLA = "t.sla_breached = 1"
_CRM = "t.crm_outcome = ?"


def _conditions(flt: SessionFilter) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if flt.channel is not None:
        where.append("c.channel = ?")
        params.append(flt.channel)
    if flt.variant is not None:
        where.append("json_extract(c.attributes, ?) = ?")
        params += [_VARIANT_PATH, flt.variant]
    if flt.intent is not None:
        where.append(_TURN_EXISTS.format("t.intent = ?"))
        params += [FAMILY_TURN, flt.intent]
    if flt.low_confidence:
        where.append(_TURN_EXISTS.format(_LOW))
        params += [FAMILY_TURN, semconv.LOW_CONFIDENCE]
    if flt.sla_breached:
        where.append(_TURN_EXISTS.format(_SLA))
        params.append(FAMILY_TURN)
    if flt.crm_failed:
        where.append(_TURN_EXISTS.format(_CRM))
        params += [FAMILY_CRM, semconv.CRM_OUTCOME_ERROR]
    if flt.any_problem:
        where.append(
            "EXISTS (SELECT 1 FROM spans t WHERE t.conversation_id = c.conversation_id AND ("
            f"(t.family = ? AND ({_LOW} OR {_SLA})) OR (t.family = ? AND {_CRM})))"
        )
        params += [FAMILY_TURN, semconv.LOW_CONFIDENCE, FAMILY_CRM, semconv.CRM_OUTCOME_ERROR]
    return where, params


def find_sessions(
    conn: sqlite3.Connection, flt: SessionFilter, since_ns: int, until_ns: int, limit: int, offset: int = 0
) -> list[SessionSummary]:
    """Conversations started in [since, until) matching ``flt``, newest first, one page, summarised."""
    where, params = _conditions(flt)
    sql = (
        "SELECT c.conversation_id, c.start_ns, c.channel, c.trace_id, json_extract(c.attributes, ?) FROM spans c "
        "WHERE c.family = ? AND c.start_ns >= ? AND c.start_ns < ?"
        + "".join(f" AND {w}" for w in where)
        + " ORDER BY c.start_ns DESC LIMIT ? OFFSET ?"
    )
    rows = conn.execute(
        sql, [_VARIANT_PATH, FAMILY_CONVERSATION, since_ns, until_ns, *params, limit, offset]
    ).fetchall()
    return [summarize(conn, cid, started, channel, trace, variant) for cid, started, channel, trace, variant in rows]


def summarize(
    conn: sqlite3.Connection,
    conversation_id: str,
    started_ns: int,
    channel: str | None,
    trace_id: str | None = None,
    variant: str | None = None,
) -> SessionSummary:
    turns, min_conf, low, sla, crm = conn.execute(
        """SELECT COALESCE(SUM(family = ?), 0), MIN(CASE WHEN family = ? THEN confidence END),
                  COALESCE(SUM(family = ? AND intent IS NOT NULL AND confidence < ?), 0),
                  COALESCE(SUM(family = ? AND sla_breached = 1), 0),
                  COALESCE(SUM(family = ? AND crm_outcome = ?), 0)
           FROM spans WHERE conversation_id = ?""",
        (
            FAMILY_TURN,
            FAMILY_TURN,
            FAMILY_TURN,
            semconv.LOW_CONFIDENCE,
            FAMILY_TURN,
            FAMILY_CRM,
            semconv.CRM_OUTCOME_ERROR,
            conversation_id,
        ),
    ).fetchone()
    stages = tuple(
        row[0]
        for row in conn.execute(
            "SELECT stage FROM funnel WHERE conversation_id = ? GROUP BY stage ORDER BY MIN(time_ns)",
            (conversation_id,),
        )
    )
    return SessionSummary(
        conversation_id,
        started_ns,
        channel,
        variant,
        trace_id,
        int(turns),
        min_conf,
        int(low),
        int(sla),
        int(crm),
        stages,
    )


def conversation_start(conn: sqlite3.Connection, conversation_id: str) -> SessionSummary | None:
    """The conversation's root span (start, channel, variant, trace), or None if unknown."""
    row = conn.execute(
        "SELECT start_ns, channel, trace_id, json_extract(attributes, ?) FROM spans "
        "WHERE conversation_id = ? AND family = ? ORDER BY start_ns LIMIT 1",
        (_VARIANT_PATH, conversation_id, FAMILY_CONVERSATION),
    ).fetchone()
    if row is None:
        return None
    return summarize(conn, conversation_id, row[0], row[1], row[2], row[3])


def conversation_ids(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> Iterator[str]:
    """Ids of the conversations started in [since, until), oldest first, streamed."""
    yield from (
        row[0]
        for row in conn.execute(
            "SELECT conversation_id FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ? ORDER BY start_ns",
            (FAMILY_CONVERSATION, since_ns, until_ns),
        )
    )


def low_confidence_turns(
    conn: sqlite3.Connection, since_ns: int, until_ns: int, limit: int = 1000
) -> list[LowConfidenceTurn]:
    """Turns with an intent below LOW_CONFIDENCE, oldest first, with the client's message."""
    rows = conn.execute(
        """SELECT t.conversation_id, t.turn_index, t.start_ns, t.intent, t.confidence, t.channel,
                  (SELECT l.body FROM logs l WHERE l.conversation_id = t.conversation_id
                       AND l.turn_index = t.turn_index AND l.event_name IN (?, ?) ORDER BY l.time_ns LIMIT 1)
           FROM spans t WHERE t.family = ? AND t.start_ns >= ? AND t.start_ns < ?
                AND t.intent IS NOT NULL AND t.confidence < ?
           ORDER BY t.start_ns LIMIT ?""",
        (
            *semconv.event_names_read(semconv.EVENT_MESSAGE_RECEIVED),
            FAMILY_TURN,
            since_ns,
            until_ns,
            semconv.LOW_CONFIDENCE,
            limit,
        ),
    )
    return [LowConfidenceTurn(*row) for row in rows]


def count_log_lines(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> int:
    return int(
        conn.execute("SELECT COUNT(*) FROM logs WHERE time_ns >= ? AND time_ns < ?", (since_ns, until_ns)).fetchone()[0]
    )


def log_lines(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> Iterator[LogLine]:
    """Every log record in [since, until), in time order, streamed (one row in memory at a time)."""
    cursor = conn.execute(
        """SELECT time_ns, event_name, body, conversation_id, channel, turn_index, attributes, trace_id
           FROM logs WHERE time_ns >= ? AND time_ns < ? ORDER BY time_ns""",
        (since_ns, until_ns),
    )
    cursor.arraysize = 1000
    loads, current = json.loads, semconv.current_event_name
    while batch := cursor.fetchmany():
        for t, event, body, cid, channel, turn, attributes, trace in batch:
            yield LogLine(t, current(event), body, cid, channel, turn, loads(attributes), trace)


def client_phone(conn: sqlite3.Connection, conversation_id: str) -> str | None:
    """The masked phone on the conversation's root span."""
    row = conn.execute(
        "SELECT json_extract(attributes, ?) FROM spans WHERE conversation_id = ? AND family = ? LIMIT 1",
        (_PHONE_PATH, conversation_id, FAMILY_CONVERSATION),
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def turn_of(conn: sqlite3.Connection, conversation_id: str, turn_index: int) -> tuple[str | None, float | None] | None:
    """(intent, confidence) of one turn, or None when the conversation has no such turn."""
    row = conn.execute(
        "SELECT intent, confidence FROM spans WHERE conversation_id = ? AND family = ? AND turn_index = ? LIMIT 1",
        (conversation_id, FAMILY_TURN, turn_index),
    ).fetchone()
    return None if row is None else (row[0], row[1])
