"""Stage 2 of planning: putting a script on the calendar, never in the future.

Scripts are written in Moscow local time from the midnight of the chat's
day, and their texts name days and clock times ("завтра в 15:00"), so a
script moves by whole days, which keeps those words true.

* Batch (journal) mode: the chat starts on a day drawn uniformly from the
  window (default 7 days).  Follow-ups that would happen after "now" have not
  happened yet and are dropped, so the last days hold fresh bookings without
  visits, as a real journal does.
* Live mode (``--rate``): the whole conversation ends now.  A chat with no
  follow-up ends at this moment; a booking's chat lies days back and its
  last follow-up (a visit, a no-show) is what happens now.

Every step is kept at least ``fault_margin_ns`` before now, so that slow-LLM
faults injected afterwards (which delay the rest of a session) cannot push
anything into the future either.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .llm import SLOW_MAX_S
from .plan import NS_PER_S, ConversationPlan, CrmCall, Funnel, LlmCall, Send, Session, Step, Turn, step_start

HOUR_NS = 3600 * NS_PER_S
DAY_NS = 24 * HOUR_NS
MSK_OFFSET_NS = 3 * HOUR_NS  # UTC+3 all year


def local_midnight(now_ns: int) -> int:
    """Unix time of the last Moscow midnight at or before ``now_ns``."""
    local = now_ns + MSK_OFFSET_NS
    return local - local % DAY_NS - MSK_OFFSET_NS


def fault_margin_ns(plan: ConversationPlan) -> int:
    """How much later a step can end once faults are injected, with room for the step itself."""
    return int((len(plan.turns) + 1) * (SLOW_MAX_S + 2.0) * NS_PER_S)


def place_batch(plan: ConversationPlan, u: float, now_ns: int, window_ns: int) -> ConversationPlan:
    """Start the chat at a random point of ``[now - window, now]``; drop what has not happened yet."""
    margin = fault_margin_ns(plan)
    chat_end = plan.sessions[0].end_ns
    if window_ns >= DAY_NS:
        midnight = local_midnight(now_ns)
        k_min = max(0, math.ceil((midnight + chat_end + margin - now_ns) / DAY_NS))
        k_max = (midnight + plan.start_ns - (now_ns - window_ns)) // DAY_NS
        k = k_min if k_max < k_min else k_min + min(int(u * (k_max - k_min + 1)), k_max - k_min)
        offset = midnight - k * DAY_NS
    else:
        latest = now_ns - margin - (chat_end - plan.start_ns)
        earliest = min(now_ns - window_ns, latest)
        offset = earliest + int(u * (latest - earliest)) - plan.start_ns
    return until(shift(plan, offset), now_ns - margin)


def place_live(plan: ConversationPlan, now_ns: int) -> ConversationPlan:
    """End the conversation now (a chat alone ends exactly now; follow-ups keep their clock times)."""
    margin = fault_margin_ns(plan)
    if len(plan.sessions) == 1:
        return shift(plan, now_ns - margin - plan.end_ns)
    midnight = local_midnight(now_ns)
    k = max(0, math.ceil((midnight + plan.end_ns + margin - now_ns) / DAY_NS))
    return shift(plan, midnight - k * DAY_NS)


def until(plan: ConversationPlan, limit_ns: int) -> ConversationPlan:
    """The plan without the steps that start after ``limit_ns`` (the first session is always whole)."""
    sessions = [plan.sessions[0]]
    for session in plan.sessions[1:]:
        steps = tuple(step for step in session.steps if step_start(step) <= limit_ns)
        if not steps:
            break
        sessions.append(Session(session.resume, steps))
        if len(steps) < len(session.steps):
            break
    return replace(plan, sessions=tuple(sessions))


def shift(plan: ConversationPlan, offset_ns: int) -> ConversationPlan:
    sessions = tuple(Session(s.resume, tuple(shift_step(step, offset_ns) for step in s.steps)) for s in plan.sessions)
    return replace(plan, sessions=sessions)


def shift_step(step: Step, offset: int) -> Step:
    if isinstance(step, Funnel):
        return Funnel(step.stage, step.at_ns + offset)
    if isinstance(step, Send):
        return Send(step.kind, step.text, step.start_ns + offset, step.end_ns + offset)
    return shift_turn(step, offset)


def shift_turn(turn: Turn, offset: int) -> Turn:
    return replace(
        turn,
        start_ns=turn.start_ns + offset,
        intent_ns=turn.intent_ns + offset,
        llm_calls=tuple(shift_llm(c, offset) for c in turn.llm_calls),
        crm_calls=tuple(shift_crm(c, offset) for c in turn.crm_calls),
        end_ns=turn.end_ns + offset,
    )


def shift_llm(call: LlmCall, offset: int) -> LlmCall:
    return replace(call, start_ns=call.start_ns + offset, end_ns=call.end_ns + offset)


def shift_crm(call: CrmCall, offset: int) -> CrmCall:
    return replace(call, start_ns=call.start_ns + offset, end_ns=call.end_ns + offset)
