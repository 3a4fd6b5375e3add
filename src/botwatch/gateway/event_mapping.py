"""One webhook event becomes spans, log records and metrics through the SDK, in its conversation's trace.

An inbound event is a ``turn`` (from ``timestamp`` to ``timestamp +
latency_ms``; without ``latency_ms`` its reply time is unknown, so it has no
duration measurement and does not count towards the SLA) with its intent, the CRM action the bot reported and the bot's
reply; an outbound one is a ``message.send``; an event that only names a
funnel stage is that stage.  Only the conversation's first event (as the
idempotency store numbers them, across replicas) emits the root span; every
other one resumes the trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import botwatch
from botwatch import semconv
from botwatch.conversation import Turn
from botwatch.gateway.events import Event, timestamp_ns

ACTIONS = semconv.CRM_ACTION_ALIASES


class EventClock:
    """The conversation's clock: pinned to the event's own times, or the real time for live work."""

    def __init__(self) -> None:
        self.pinned: int | None = None

    def __call__(self) -> int:
        return self.pinned if self.pinned is not None else time.time_ns()


@dataclass(frozen=True)
class Placement:
    """Where an event goes: its conversation, whether it starts it, and its number in it."""

    tenant: str
    conversation_id: str
    number: int

    @property
    def starts_conversation(self) -> bool:
        return self.number == 1


def crm_action(event: Event) -> str | None:
    if event.action is None:
        return None
    key = event.action.strip().lower()
    return ACTIONS.get(key, key.replace("_", "."))


def turn_end_ns(event: Event) -> int:
    """``timestamp + latency_ms``; without a latency, ``timestamp`` (an unmeasured turn).

    Never the time the gateway received it: a webhook delivered late would
    read as a slow reply.
    """
    start = timestamp_ns(event.timestamp)
    return start if event.latency_ms is None else start + int(event.latency_ms * 1e6)


@contextmanager
def recorded(event: Event, where: Placement) -> Iterator[Turn | None]:
    """Record ``event``; inside the block, the turn (if it is one) is open for live CRM work."""
    clock = EventClock()
    start = clock.pinned = timestamp_ns(event.timestamp)
    client = event.client
    with botwatch.conversation(
        where.conversation_id,
        channel=event.channel,
        client_phone=client.phone if client else None,
        client_email=client.email if client and not client.phone else None,
        scenario_variant=event.scenario_variant,
        session_id=event.session_id,
        resume=not where.starts_conversation,
        clock=clock,
        tenant=where.tenant,
    ) as conv:
        # Every span and log record of this event (not the conversation's root) carries its id, so the
        # export finds it; the tenant goes on the event's main span only (each attribute costs export CPU).
        conv.tag({semconv.GATEWAY_EVENT_ID: event.event_id})
        if event.funnel_only:
            assert event.funnel_stage is not None
            conv.funnel(event.funnel_stage)
            yield None
            return
        if event.direction == "outbound":
            clock.pinned = start
            with conv.send(event.text or event.bot_response or "", kind=event.message_kind or "reminder") as out:
                out.span.set_attribute(semconv.TENANT, where.tenant)
                clock.pinned = start + int((event.latency_ms or 0) * 1e6)
            if event.funnel_stage:
                conv.funnel(event.funnel_stage)
            yield None
            return
        end = turn_end_ns(event)
        with conv.turn(event.text, index=event.turn_index or where.number) as turn:
            turn.measured = event.latency_ms is not None
            turn.span.set_attribute(semconv.TENANT, where.tenant)
            if event.intent is not None:
                if event.confidence is not None:
                    turn.intent(event.intent, confidence=event.confidence)
                else:
                    turn.span.set_attribute(semconv.INTENT, event.intent)
            if event.model:
                turn.model = event.model
            clock.pinned = end
            _reported_action(turn, event)
            if event.bot_response is not None:
                turn.reply(event.bot_response)
            clock.pinned = None  # live work (the gateway's own CRM calls) takes real time
            yield turn
            clock.pinned = end
            if event.funnel_stage and not (event.funnel_stage == semconv.LEAD_CREATED and _lead_reported(event)):
                turn.funnel(event.funnel_stage)


def _lead_reported(event: Event) -> bool:
    return crm_action(event) == semconv.CRM_ACTION_LEAD_CREATE and bool(event.crm_id) and not event.crm_error


def _reported_action(turn: Turn, event: Event) -> None:
    """A CRM action the bot did itself: a finished ``crm.*`` span with its outcome."""
    action = crm_action(event)
    if action is None or not (event.crm_id or event.crm_error):
        return
    with turn.crm(action, system=semconv.CRM_SYSTEM_BITRIX24) as span:
        if event.crm_id:
            span.entity_id = event.crm_id
        if event.crm_error:
            span.fail(event.crm_error)
    if _lead_reported(event):
        turn.funnel(semconv.LEAD_CREATED)


def needs_lead(event: Event) -> bool:
    """A ``create_lead`` the bot left to the gateway (no crm_id, no error)."""
    return (
        event.direction == "inbound"
        and crm_action(event) == semconv.CRM_ACTION_LEAD_CREATE
        and not event.crm_id
        and not event.crm_error
    )
