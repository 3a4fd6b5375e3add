"""One row of facts per conversation, read in a few indexed scans: what insights and change impact compare.

Conversations are those whose ``conversation_started`` falls in the window
(the KPI rule); their turns, outcomes and lead creations are read in the same
window, clients' turns only (an update no handler took, or an admin chat, is
not a client's turn).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from botwatch import semconv
from botwatch.journal.kpi import CLIENT_TURN
from botwatch.journal.rows import FAMILY_CRM, FAMILY_TURN

UNKNOWN = "—"


class TurnFact(NamedTuple):  # a tuple: a million-event journal has hundreds of thousands of turns
    turn_index: int
    intent: str
    confidence: float | None
    slow: int  # 0/1
    seconds: float
    handler: str | None


@dataclass(slots=True)
class ConversationFacts:
    conversation_id: str
    started_ns: int
    channel: str
    variant: str = UNKNOWN
    model: str = UNKNOWN
    bot: str = UNKNOWN  # service.name
    release: str = UNKNOWN  # service.version
    scenario_version: str = UNKNOWN
    booked: bool = False
    escalated: bool = False
    lead_creates: int = 0
    lead_failures: int = 0
    turns: list[TurnFact] = field(default_factory=list)

    @property
    def last_turn(self) -> TurnFact | None:
        return max(self.turns, key=lambda t: t.turn_index) if self.turns else None


def _resources(conn: sqlite3.Connection) -> dict[int, dict[str, str]]:
    found = {}
    for row_id, raw in conn.execute("SELECT id, attributes FROM resources"):
        try:
            attributes = json.loads(raw)
        except ValueError:
            attributes = {}
        found[row_id] = {k: str(v) for k, v in attributes.items() if isinstance(v, str | int | float)}
    return found


def _name_segments(
    found: ConversationFacts, model: str | None, resource: dict[str, str], variant: str | None, version: str | None
) -> None:
    found.variant = variant or UNKNOWN
    found.model = model or UNKNOWN
    found.bot = resource.get(semconv.SERVICE_NAME, UNKNOWN)
    found.release = resource.get(semconv.SERVICE_VERSION, UNKNOWN)
    found.scenario_version = version or resource.get(semconv.SCENARIO_VERSION, UNKNOWN)


def read_facts(
    conn: sqlite3.Connection,
    since_ns: int,
    until_ns: int,
    progress: Callable[[str], None] | None = None,
) -> list[ConversationFacts]:
    """The facts of every conversation started in [since_ns, until_ns), in start order."""
    say = progress or (lambda _text: None)
    say("conversations")
    facts: dict[str, ConversationFacts] = {}
    for conversation_id, started, channel in conn.execute(
        "SELECT conversation_id, MIN(time_ns), MIN(channel) FROM funnel "
        "WHERE stage = ? AND time_ns >= ? AND time_ns < ? AND conversation_id IS NOT NULL "
        "GROUP BY conversation_id",
        (semconv.CONVERSATION_STARTED, since_ns, until_ns),
    ):
        facts[conversation_id] = ConversationFacts(conversation_id, started, channel or UNKNOWN)

    say("outcomes")
    for conversation_id, stage in conn.execute(
        "SELECT DISTINCT conversation_id, stage FROM funnel WHERE stage IN (?, ?) AND time_ns >= ? AND time_ns < ?",
        (semconv.BOOKING_CREATED, semconv.ESCALATED, since_ns, until_ns),
    ):
        found = facts.get(conversation_id)
        if found is not None:
            if stage == semconv.BOOKING_CREATED:
                found.booked = True
            else:
                found.escalated = True

    say("turns")
    resources = _resources(conn)
    # The turn's own columns come converted, so each row becomes a TurnFact without Python work.
    query = (
        f"SELECT conversation_id, COALESCE(turn_index, 0), COALESCE(intent, '{UNKNOWN}'), confidence, "
        "COALESCE(sla_breached, 0), COALESCE(duration_ns, 0) / 1e9, "
        f"json_extract(attributes, '$.\"{semconv.HANDLER}\"'), model, resource_id, "
        f"json_extract(attributes, '$.\"{semconv.SCENARIO_VARIANT}\"'), "
        f"json_extract(attributes, '$.\"{semconv.SCENARIO_VERSION}\"') "
        f"FROM spans WHERE family = ? AND start_ns >= ? AND start_ns < ? AND {CLIENT_TURN}"
    )
    make = TurnFact._make
    for row in conn.execute(query, (FAMILY_TURN, since_ns, until_ns)):
        found = facts.get(row[0])
        if found is None:
            continue  # started before the window
        if not found.turns:  # the first turn seen names the conversation's segments
            _name_segments(found, row[7], resources.get(row[8], {}), row[9], row[10])
        found.turns.append(make(row[1:7]))

    say("lead creations")
    for conversation_id, outcome in conn.execute(
        "SELECT conversation_id, crm_outcome FROM spans "
        "WHERE family = ? AND start_ns >= ? AND start_ns < ? AND crm_action = ?",
        (FAMILY_CRM, since_ns, until_ns, semconv.CRM_ACTION_LEAD_CREATE),
    ):
        found = facts.get(conversation_id)
        if found is not None:
            found.lead_creates += 1
            found.lead_failures += outcome == semconv.CRM_OUTCOME_ERROR
    # Like the KPIs: a conversation counts once the client wrote in it; bot-only sends are not an обращение.
    return sorted((f for f in facts.values() if f.turns), key=lambda f: f.started_ns)
