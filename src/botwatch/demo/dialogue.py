"""Builds the timeline of one conversation, turn by turn, on a virtual clock.

Within a session every step follows the previous one: the client reads the
bot's reply and types (think time), then the bot classifies, calls the LLM,
calls the CRM and replies.  A healthy turn is kept under 2.85 s by drawing the
LLM latency from the time left after the other steps, with the worst case of
a ``lead.create`` (a 0.8 s timeout under the crm_errors fault) reserved.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from . import llm, simulated_bitrix24
from .classifier import classify
from .plan import NS_PER_S, CrmCall, Funnel, LlmCall, Send, Session, Step, Turn

HEALTHY_TURN_S = 2.85


def seconds(value: float) -> int:
    return int(value * NS_PER_S)


class Dialogue:
    def __init__(self, rng: random.Random, model: llm.ModelProfile, prompt_tokens: int, start_ns: int) -> None:
        self.rng = rng
        self.model = model
        # the system prompt is sized for gpt-4o-mini's tokenizer
        self.prompt_tokens = math.ceil(prompt_tokens * llm.GPT_4O_MINI.chars_per_token / model.chars_per_token)
        self.now = start_ns
        self.history_tokens = 0
        self.turn_index = 0
        self._sessions: list[Session] = []
        self._steps: list[Step] = []

    # --- sessions -------------------------------------------------------------
    def resume_at(self, at_ns: int) -> None:
        """Close the current session; the next steps are a follow-up starting at ``at_ns``."""
        if at_ns < self.now:
            raise ValueError("a follow-up cannot start before the previous session ends")
        self._close()
        self.now = at_ns

    def sessions(self) -> tuple[Session, ...]:
        self._close()
        return tuple(self._sessions)

    def _close(self) -> None:
        if self._steps:
            self._sessions.append(Session(resume=bool(self._sessions), steps=tuple(self._steps)))
            self._steps = []

    # --- waiting ----------------------------------------------------------------
    def think_ns(self, text: str) -> int:
        """Reading the reply, then typing ``text`` on a phone."""
        reading = min(self.rng.lognormvariate(math.log(12.0), 0.8), 240.0)
        typing = len(text) / self.rng.uniform(2.5, 4.5)
        return seconds(reading + typing)

    def later_ns(self, median_s: float, cap_s: float) -> int:
        return seconds(min(self.rng.lognormvariate(math.log(median_s), 0.9), cap_s))

    # --- steps ------------------------------------------------------------------
    def client(
        self,
        text: str,
        intent: str,
        reply: str,
        *,
        crm: Sequence[tuple[str, str]] = (),
        funnel: Sequence[str] = (),
        delay_ns: int | None = None,
    ) -> Turn:
        """The client writes ``text``; the bot answers ``reply`` after the given CRM actions."""
        if self._steps:
            self.now += self.think_ns(text) if delay_ns is None else delay_ns
        rng, model = self.rng, self.model
        self.turn_index += 1
        start = self.now
        said_intent, confidence = classify(rng, intent)
        intent_at = start + seconds(rng.uniform(0.03, 0.12))
        reply_overhead = seconds(rng.uniform(0.02, 0.08))
        actions = [simulated_bitrix24.call(rng, action, entity, 0) for action, entity in crm]
        reserved = sum(
            simulated_bitrix24.worst_case_ns(calls[0].action)
            if calls[0].action == simulated_bitrix24.FAULTABLE_ACTION
            else calls[-1].end_ns - calls[0].start_ns
            for calls in actions
        )
        budget = seconds(HEALTHY_TURN_S) - (intent_at - start) - reply_overhead - reserved

        message_tokens, output_tokens = model.tokens(text), model.tokens(reply)
        input_tokens = self.prompt_tokens + self.history_tokens + message_tokens
        llm_calls: list[LlmCall] = []
        at = intent_at
        if rng.random() < llm.THROTTLE_RATE:
            wasted = llm.throttled_latency_ns(rng)
            llm_calls.append(self._llm_call(at, at + wasted, 0, 0, model.rate_limit_error))
            at += wasted
            budget -= wasted
        latency = llm.latency_ns(rng, model, output_tokens, budget)
        llm_calls.append(self._llm_call(at, at + latency, input_tokens, output_tokens, None))
        at += latency

        crm_calls: list[CrmCall] = []
        for calls in actions:
            offset = at - calls[0].start_ns
            for c in calls:
                crm_calls.append(
                    CrmCall(c.action, c.system, c.start_ns + offset, c.end_ns + offset, c.entity_id, c.error)
                )
            at = crm_calls[-1].end_ns
        end = at + reply_overhead

        self.history_tokens += message_tokens + output_tokens
        turn = Turn(
            index=self.turn_index,
            text=text,
            true_intent=intent,
            intent=said_intent,
            confidence=confidence,
            start_ns=start,
            intent_ns=intent_at,
            llm_calls=tuple(llm_calls),
            crm_calls=tuple(crm_calls),
            funnel=tuple(funnel),
            reply=reply,
            end_ns=end,
        )
        self._steps.append(turn)
        self.now = end
        return turn

    def send(self, kind: str, text: str, *, delay_ns: int = 0) -> None:
        self.now += delay_ns
        end = self.now + seconds(self.rng.uniform(0.08, 0.35))
        self._steps.append(Send(kind, text, self.now, end))
        self.history_tokens += self.model.tokens(text)
        self.now = end

    def funnel(self, stage: str, *, delay_ns: int = 0) -> None:
        self.now += delay_ns
        self._steps.append(Funnel(stage, self.now))

    def _llm_call(self, start: int, end: int, input_tokens: int, output_tokens: int, error: str | None) -> LlmCall:
        m = self.model
        cost = m.cost(input_tokens, output_tokens) if error is None else 0.0
        return LlmCall(m.name, m.provider, m.response_model, start, end, input_tokens, output_tokens, cost, error)
