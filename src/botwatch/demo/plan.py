"""The plan of one simulated conversation: what is said and done, and when.

A plan is pure data.  It is generated from a seed (``script``), placed on the
calendar (``placement``), altered by fault injection (``injection``) and only
then played through the SDK (``executor``).  All times are integer
nanoseconds; in a placed plan they are Unix times, like ``time.time_ns()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from botwatch import semconv

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class LlmCall:
    model: str
    provider: str
    response_model: str
    start_ns: int
    end_ns: int
    input_tokens: int
    output_tokens: int
    cost: float
    error: str | None = None  # a failed attempt (the bot retries it)
    slowed: bool = False  # latency set by the slow_llm fault

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


@dataclass(frozen=True, slots=True)
class CrmCall:
    action: str
    system: str
    start_ns: int
    end_ns: int
    entity_id: str | None
    error: str | None = None
    injected: bool = False  # error set by the crm_errors fault

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


@dataclass(frozen=True, slots=True)
class Turn:
    """One inbound client message and everything the bot does until it replies."""

    index: int
    text: str
    true_intent: str  # what the client meant (the script's truth)
    intent: str  # what the classifier said
    confidence: float
    start_ns: int
    intent_ns: int
    llm_calls: tuple[LlmCall, ...]
    crm_calls: tuple[CrmCall, ...]
    funnel: tuple[str, ...]
    reply: str
    end_ns: int
    low_confidence_injected: bool = False

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S

    @property
    def over_sla(self) -> bool:
        return self.seconds > semconv.SLA_SECONDS


@dataclass(frozen=True, slots=True)
class Send:
    """An outbound message that answers no turn: a reminder, a receipt, a feedback request."""

    kind: str
    text: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Funnel:
    """A funnel stage reached outside any turn (visit, no-show, payment)."""

    stage: str
    at_ns: int


Step = Turn | Send | Funnel


def step_start(step: Step) -> int:
    return step.at_ns if isinstance(step, Funnel) else step.start_ns


def step_end(step: Step) -> int:
    return step.at_ns if isinstance(step, Funnel) else step.end_ns


@dataclass(frozen=True, slots=True)
class Session:
    """One stretch of activity in one process: the chat, or a follow-up days later.

    The first session opens the conversation; later ones resume it (same trace).
    """

    resume: bool
    steps: tuple[Step, ...]

    @property
    def start_ns(self) -> int:
        return step_start(self.steps[0])

    @property
    def end_ns(self) -> int:
        return step_end(self.steps[-1])

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(s for s in self.steps if isinstance(s, Turn))


@dataclass(frozen=True, slots=True)
class ConversationPlan:
    id: str
    number: int
    business: str  # "salon" | "clinic" | "barbershop"
    scenario: str  # "booking", "price", "reschedule", ...
    channel: str
    variant: str  # "A" | "B"
    model: str
    session_id: str
    client_phone: str | None  # known to the channel (WhatsApp); raw, the SDK masks it
    client_email: str | None
    sessions: tuple[Session, ...]

    @property
    def start_ns(self) -> int:
        return self.sessions[0].start_ns

    @property
    def end_ns(self) -> int:
        return self.sessions[-1].end_ns

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(t for s in self.sessions for t in s.turns)

    @property
    def funnel_stages(self) -> tuple[str, ...]:
        """Every funnel stage the conversation reaches, in time order."""
        stages: list[str] = []
        for session in self.sessions:
            for step in session.steps:
                if isinstance(step, Turn):
                    stages.extend(step.funnel)
                elif isinstance(step, Funnel):
                    stages.append(step.stage)
        return tuple(stages)
