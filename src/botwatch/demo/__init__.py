"""The conversation simulator behind ``botwatch demo``.

Bots of a beauty salon, a clinic and a barbershop talk Russian with clients
over WhatsApp, Telegram, Instagram and a site chat, and everything they do
goes through the SDK.  Planning is pure and seeded (``plan_conversation``);
``run_demo`` plays the plans through ``botwatch.conversation``.  Fault
switches and their grammar: ``botwatch.demo.faults``.
"""

from .faults import NO_FAULTS, FaultRule, Faults, FaultSyntaxError, parse_faults
from .plan import ConversationPlan
from .runner import DEFAULT_WINDOW_S, DemoResult, Progress, plan_conversation, run_demo
from .script import conversation_id
from .tally import Tally

__all__ = [
    "DEFAULT_WINDOW_S",
    "NO_FAULTS",
    "ConversationPlan",
    "DemoResult",
    "FaultRule",
    "FaultSyntaxError",
    "Faults",
    "Progress",
    "Tally",
    "conversation_id",
    "parse_faults",
    "plan_conversation",
    "run_demo",
]
