"""Plays a placed plan through the SDK, moving the virtual clock before each call."""

from __future__ import annotations

from . import llm, simulated_bitrix24
from .plan import ConversationPlan, Funnel, Send, Session, Turn
from .sdk_protocols import ConversationSpan, OpenConversation, VirtualClock


def play(plan: ConversationPlan, open_conversation: OpenConversation) -> None:
    clock = VirtualClock(plan.start_ns)
    for session in plan.sessions:
        _session(plan, session, open_conversation, clock)


def _session(
    plan: ConversationPlan, session: Session, open_conversation: OpenConversation, clock: VirtualClock
) -> None:
    clock.set(session.start_ns)
    with open_conversation(
        plan.id,
        channel=plan.channel,
        client_phone=plan.client_phone,
        client_email=plan.client_email,
        scenario_variant=plan.variant,
        session_id=plan.session_id,
        resume=session.resume,
        clock=clock,
    ) as conversation:
        for step in session.steps:
            if isinstance(step, Turn):
                _turn(conversation, step, clock, simulated_bitrix24.portal(plan.business))
            elif isinstance(step, Send):
                clock.set(step.start_ns)
                with conversation.send(step.text, kind=step.kind):
                    clock.set(step.end_ns)
            else:
                _funnel(conversation, step, clock)


def _funnel(conversation: ConversationSpan, step: Funnel, clock: VirtualClock) -> None:
    clock.set(step.at_ns)
    conversation.funnel(step.stage)


def _turn(conversation: ConversationSpan, turn: Turn, clock: VirtualClock, portal: str) -> None:
    clock.set(turn.start_ns)
    with conversation.turn(turn.text, index=turn.index) as span:
        clock.set(turn.intent_ns)
        span.intent(turn.intent, turn.confidence)
        for call in turn.llm_calls:
            clock.set(call.start_ns)
            host = llm.model_by_name(call.model).server_address
            with span.llm(call.model, provider=call.provider, server_address=host, server_port=443) as chat:
                clock.set(call.end_ns)
                if call.error:
                    chat.fail(call.error)
                else:
                    chat.response(model=call.response_model, finish_reasons=("stop",))
                    chat.usage(call.input_tokens, call.output_tokens, cost=call.cost)
        for action in turn.crm_calls:
            clock.set(action.start_ns)
            with span.crm(
                action.action, system=action.system, server_address=portal, server_port=simulated_bitrix24.PORT
            ) as crm:
                clock.set(action.end_ns)
                if action.error:
                    crm.fail(action.error)
                else:
                    crm.entity_id = action.entity_id
        clock.set(turn.end_ns)
        for stage in turn.funnel:
            span.funnel(stage)
        span.reply(turn.reply)
