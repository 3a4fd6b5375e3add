"""Fault injection switches and their command-line grammar.

    faults  := "" | "none" | rule ("," rule)*
    rule    := name "=" rate ["@" window]
    name    := "slow_llm" | "low_confidence" | "crm_errors" | "broken_price"
    rate    := a number in [0, 1] ("0.3") or a percentage ("30%")
    window  := [time] "-" [time]      start inclusive, end exclusive; either side may be empty
    time    := number [unit]          unit: s (default), m, h, d

Examples: ``slow_llm=0.3``, ``slow_llm=30%@10s-60s,crm_errors=0.5@2m-``.
A name may repeat with windows that do not overlap.  Outside every window of
a fault its rate is 0.

What a rate applies to:

* ``slow_llm``: each turn.  Every simulated turn makes exactly one successful
  LLM call; in an affected turn that call takes 3.5–8 s, so the turn exceeds
  the 3 s SLA.  Unaffected turns stay under 2.85 s.
* ``low_confidence``: each turn.  The classifier's confidence becomes
  0.30–0.59 (below ``semconv.LOW_CONFIDENCE``); the intent and the bot's
  behaviour stay the same.  Without the fault every confidence is >= 0.61.
* ``crm_errors``: each Bitrix24 ``lead.create`` call.  It fails with
  QUERY_LIMIT_EXCEEDED, ERROR_CORE, INTERNAL_SERVER_ERROR or timeout, and the
  conversation loses its ``lead_created`` stage.  The client does not notice.
  Without the fault ``lead.create`` never fails.
* ``broken_price``: each price question in scenario variant B (a planted
  problem for ``botwatch insights``).  The bot misreads it (confidence
  0.30–0.59), answers beside the point, and the client leaves: the rest of
  the conversation (booking, reminders, visit) never happens.

Time is seconds since the start of the run: on the real clock in live mode
(``--rate``), where each conversation is judged at the moment it is sent; in
batch mode on the virtual clock, from the start of the back-dated window.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

SLOW_LLM = "slow_llm"
LOW_CONFIDENCE = "low_confidence"
CRM_ERRORS = "crm_errors"
BROKEN_PRICE = "broken_price"
FAULT_NAMES = (SLOW_LLM, LOW_CONFIDENCE, CRM_ERRORS, BROKEN_PRICE)

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


class FaultSyntaxError(ValueError):
    """A fault string that does not follow the grammar; the message says what and where."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    rate: float
    start_s: float = 0.0
    end_s: float | None = None  # None: open-ended

    def covers(self, elapsed_s: float) -> bool:
        return self.start_s <= elapsed_s and (self.end_s is None or elapsed_s < self.end_s)

    def __str__(self) -> str:
        text = f"{self.rate:g}"
        if self.start_s or self.end_s is not None:
            end = "" if self.end_s is None else f"{self.end_s:g}s"
            text += f"@{self.start_s:g}s-{end}"
        return text


@dataclass(frozen=True, slots=True)
class Faults:
    slow_llm: tuple[FaultRule, ...] = field(default=())
    low_confidence: tuple[FaultRule, ...] = field(default=())
    crm_errors: tuple[FaultRule, ...] = field(default=())
    broken_price: tuple[FaultRule, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Faults:
        return parse_faults(text)

    @classmethod
    def constant(
        cls, *, slow_llm: float = 0.0, low_confidence: float = 0.0, crm_errors: float = 0.0, broken_price: float = 0.0
    ) -> Faults:
        """Faults at a fixed rate for the whole run."""

        def rules(rate: float) -> tuple[FaultRule, ...]:
            _check_rate(rate, str(rate))
            return (FaultRule(rate),) if rate else ()

        return cls(rules(slow_llm), rules(low_confidence), rules(crm_errors), rules(broken_price))

    def rules(self, name: str) -> tuple[FaultRule, ...]:
        if name == SLOW_LLM:
            return self.slow_llm
        if name == LOW_CONFIDENCE:
            return self.low_confidence
        if name == CRM_ERRORS:
            return self.crm_errors
        if name == BROKEN_PRICE:
            return self.broken_price
        raise KeyError(name)

    def rate(self, name: str, elapsed_s: float) -> float:
        """The probability that fault ``name`` hits an event ``elapsed_s`` seconds into the run."""
        for rule in self.rules(name):
            if rule.covers(elapsed_s):
                return rule.rate
        return 0.0

    def __bool__(self) -> bool:
        return any(rule.rate for name in FAULT_NAMES for rule in self.rules(name))

    def __str__(self) -> str:
        parts = [f"{name}={rule}" for name in FAULT_NAMES for rule in self.rules(name)]
        return ",".join(parts) if parts else "none"


NO_FAULTS = Faults()


def parse_faults(text: str) -> Faults:
    """Parse ``slow_llm=0.3@10s-60s,crm_errors=0.5`` (grammar in the module docstring)."""
    found: dict[str, list[FaultRule]] = {name: [] for name in FAULT_NAMES}
    stripped = text.strip()
    if stripped in ("", "none"):
        return NO_FAULTS
    for item in stripped.split(","):
        name, rule = _parse_rule(item.strip(), text)
        found[name].append(rule)
    for name, rules in found.items():
        rules.sort(key=lambda r: r.start_s)
        for earlier, later in itertools.pairwise(rules):
            if earlier.end_s is None or earlier.end_s > later.start_s:
                raise FaultSyntaxError(f"{name}: windows {earlier} and {later} overlap in {text!r}")
    return Faults(*(tuple(found[name]) for name in FAULT_NAMES))


def _parse_rule(item: str, text: str) -> tuple[str, FaultRule]:
    name, eq, value = item.partition("=")
    name = name.strip()
    if not eq:
        raise FaultSyntaxError(f"expected name=rate, got {item!r} in {text!r}")
    if name not in FAULT_NAMES:
        raise FaultSyntaxError(f"unknown fault {name!r} in {text!r}; known: {', '.join(FAULT_NAMES)}")
    rate_text, at, window = value.partition("@")
    rate = _parse_rate(rate_text.strip(), text)
    if not at:
        return name, FaultRule(rate)
    start_text, dash, end_text = window.partition("-")
    if not dash:
        raise FaultSyntaxError(f"window {window!r} must look like 10s-60s (in {text!r})")
    start = _parse_time(start_text, text) if start_text.strip() else 0.0
    end = _parse_time(end_text, text) if end_text.strip() else None
    if end is not None and end <= start:
        raise FaultSyntaxError(f"window {window!r} ends before it starts (in {text!r})")
    return name, FaultRule(rate, start, end)


def _parse_rate(value: str, text: str) -> float:
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise FaultSyntaxError(f"rate {value!r} is not a number or a percentage (in {text!r})") from None
    _check_rate(rate, text)
    return rate


def _check_rate(rate: float, text: str) -> None:
    if not 0.0 <= rate <= 1.0:
        raise FaultSyntaxError(f"rate {rate:g} is outside 0..1 (in {text!r})")


def _parse_time(value: str, text: str) -> float:
    match = _TIME.match(value)
    if not match:
        raise FaultSyntaxError(f"time {value.strip()!r} must be a number with an optional unit s/m/h/d (in {text!r})")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
