"""Running totals of what the simulator planned and sent, in constant memory."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from botwatch import semconv

from . import simulated_bitrix24
from .plan import ConversationPlan, Send

_BIN_S = 0.01  # turn-time histogram resolution
_BINS = 6000  # up to 60 s; longer turns land in the last bin


@dataclass
class Tally:
    conversations: int = 0
    turns: int = 0
    turns_over_sla: int = 0
    low_confidence_turns: int = 0
    llm_calls: int = 0
    llm_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    crm_calls: int = 0
    crm_errors: int = 0
    lead_attempts: int = 0
    lead_failures: int = 0
    messages_sent: int = 0
    funnel: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    _turn_bins: list[int] = field(default_factory=lambda: [0] * _BINS, repr=False)

    def add(self, plan: ConversationPlan) -> None:
        self.conversations += 1
        self.variants[plan.variant] += 1
        self.funnel.update(plan.funnel_stages)
        for session in plan.sessions:
            self.messages_sent += sum(isinstance(step, Send) for step in session.steps)
        for turn in plan.turns:
            self.turns += 1
            self.turns_over_sla += turn.over_sla
            self.low_confidence_turns += turn.confidence < semconv.LOW_CONFIDENCE
            self._turn_bins[min(int(turn.seconds / _BIN_S), _BINS - 1)] += 1
            for call in turn.llm_calls:
                self.llm_calls += 1
                self.llm_errors += call.error is not None
                self.input_tokens += call.input_tokens
                self.output_tokens += call.output_tokens
                self.cost_usd += call.cost
            for action in turn.crm_calls:
                self.crm_calls += 1
                self.crm_errors += action.error is not None
                if action.action == simulated_bitrix24.LEAD_CREATE:
                    self.lead_attempts += 1
                    self.lead_failures += action.error is not None

    def copy(self) -> Tally:
        return Tally(
            **{name: getattr(self, name) for name in _SCALARS},
            funnel=Counter(self.funnel),
            variants=Counter(self.variants),
            _turn_bins=list(self._turn_bins),
        )

    def turn_seconds(self, quantile: float) -> float:
        """Turn time at ``quantile`` (0..1), to 10 ms."""
        if not self.turns:
            return 0.0
        rank = max(1, round(quantile * self.turns))
        seen = 0
        for index, count in enumerate(self._turn_bins):
            seen += count
            if seen >= rank:
                return (index + 1) * _BIN_S
        return _BINS * _BIN_S

    @property
    def sla_breach_share(self) -> float:
        return _share(self.turns_over_sla, self.turns)

    @property
    def low_confidence_share(self) -> float:
        return _share(self.low_confidence_turns, self.turns)

    @property
    def lead_failure_share(self) -> float:
        return _share(self.lead_failures, self.lead_attempts)

    @property
    def booking_conversion(self) -> float:
        return _share(self.funnel[semconv.BOOKING_CREATED], self.conversations)

    @property
    def no_show_share(self) -> float:
        visits = self.funnel[semconv.VISIT_COMPLETED] + self.funnel[semconv.NO_SHOW]
        return _share(self.funnel[semconv.NO_SHOW], visits)


_SCALARS = tuple(name for name in Tally.__dataclass_fields__ if name not in ("funnel", "variants", "_turn_bins"))


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
