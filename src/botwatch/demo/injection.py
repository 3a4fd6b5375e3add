"""Stage 3 of planning: fault injection on a placed plan.

Each fault kind draws from its own RNG stream (seed, conversation number,
fault name), the same number of draws per turn or per ``lead.create``
whether or not the fault is active.  So switching one fault on changes only
the events it hits, and never the decisions of another fault.  What each
rate applies to is documented in ``faults``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from botwatch import semconv

from . import classifier as intents
from . import llm, simulated_bitrix24
from .classifier import low_confidence
from .faults import BROKEN_PRICE, CRM_ERRORS, FAULT_NAMES, LOW_CONFIDENCE, SLOW_LLM, Faults
from .placement import shift_crm, shift_step, shift_turn
from .plan import ConversationPlan, CrmCall, Session, Step, Turn

Elapsed = Callable[[int], float]  # Unix ns of an event -> seconds since the start of the run


def inject(plan: ConversationPlan, faults: Faults, seed: int, elapsed: Elapsed) -> ConversationPlan:
    if not faults:
        return plan
    streams = {name: random.Random(f"botwatch-demo/{seed}/{plan.number}/{name}") for name in FAULT_NAMES}
    sessions: list[Session] = []
    left = False  # the client gave up: nothing after this step happens
    for session in plan.sessions:
        delay = 0  # how much the faults so far have delayed the rest of this session
        steps: list[Step] = []
        for step in session.steps:
            moved = shift_step(step, delay)
            if isinstance(moved, Turn):
                moved, extra = _turn(moved, faults, streams, elapsed(moved.start_ns))
                delay += extra
                if plan.variant == "B" and moved.true_intent == intents.PRICE:
                    moved, left = _broken_price(moved, faults, streams[BROKEN_PRICE], elapsed(moved.start_ns))
            steps.append(moved)
            if left:
                break
        sessions.append(Session(session.resume, tuple(steps)))
        if left:
            break
    return replace(plan, sessions=tuple(sessions))


def _broken_price(turn: Turn, faults: Faults, stream: random.Random, at_s: float) -> tuple[Turn, bool]:
    """Variant B's price answer is broken: misread, answered beside the point, and the client leaves."""
    hit, value = stream.random(), stream.random()
    if hit >= faults.rate(BROKEN_PRICE, at_s):
        return turn, False
    reply = "Уточните, пожалуйста, ваш вопрос."
    return replace(turn, confidence=low_confidence(value), reply=reply, funnel=(), low_confidence_injected=True), True


def _turn(turn: Turn, faults: Faults, streams: dict[str, random.Random], at_s: float) -> tuple[Turn, int]:
    start_delay = 0
    hit, value = streams[SLOW_LLM].random(), streams[SLOW_LLM].random()
    if hit < faults.rate(SLOW_LLM, at_s):
        turn, start_delay = _slow(turn, value)

    hit, value = streams[LOW_CONFIDENCE].random(), streams[LOW_CONFIDENCE].random()
    if hit < faults.rate(LOW_CONFIDENCE, at_s):
        turn = replace(turn, confidence=low_confidence(value), low_confidence_injected=True)

    crm_delay = 0
    calls: list[CrmCall] = []
    funnel = list(turn.funnel)
    stream = streams[CRM_ERRORS]
    for call in turn.crm_calls:
        call = shift_crm(call, crm_delay)
        if call.action == simulated_bitrix24.FAULTABLE_ACTION:
            hit, code_u, latency_u = stream.random(), stream.random(), stream.random()
            if hit < faults.rate(CRM_ERRORS, at_s):
                code = simulated_bitrix24.ERROR_CODES[
                    min(int(code_u * len(simulated_bitrix24.ERROR_CODES)), len(simulated_bitrix24.ERROR_CODES) - 1)
                ]
                end = call.start_ns + simulated_bitrix24.error_latency_ns(code, latency_u)
                crm_delay += end - call.end_ns
                call = replace(call, end_ns=end, entity_id=None, error=code, injected=True)
                if semconv.LEAD_CREATED in funnel:
                    funnel.remove(semconv.LEAD_CREATED)
        calls.append(call)
    turn = replace(turn, crm_calls=tuple(calls), funnel=tuple(funnel), end_ns=turn.end_ns + crm_delay)
    return turn, start_delay + crm_delay


def _slow(turn: Turn, value: float) -> tuple[Turn, int]:
    """The turn's successful LLM call takes 3.5-8 s; everything after it in the turn moves."""
    last = turn.llm_calls[-1]
    end = last.start_ns + llm.slow_latency_ns(value)
    extra = end - last.end_ns
    slowed = replace(last, end_ns=end, slowed=True)
    moved = shift_turn(turn, extra)
    return replace(
        moved, start_ns=turn.start_ns, intent_ns=turn.intent_ns, llm_calls=(*turn.llm_calls[:-1], slowed)
    ), extra
