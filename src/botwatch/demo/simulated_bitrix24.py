"""A simulated Bitrix24 portal: entity ids, latencies and the errors it really returns.

``lead.create`` never fails on its own (so the lead-failure KPI reads the
crm_errors switch directly); other actions fail now and then with the
portal's rate limit or a core error.  A failed ``deal.create`` is retried
once.  The bot's HTTP timeout to the portal is 0.8 s, short enough that even
a timed-out call keeps the turn under the SLA.
"""

from __future__ import annotations

import math
import random

from botwatch import semconv

from .plan import NS_PER_S, CrmCall

SYSTEM = semconv.CRM_SYSTEM_BITRIX24
PORT = 443  # every portal answers HTTPS


def portal(business: str) -> str:
    """The business's (fictional) portal host: server.address of its crm.* spans."""
    return f"{business}-demo.bitrix24.ru"


LEAD_CREATE = "lead.create"
DEAL_CREATE = "deal.create"
DEAL_UPDATE = "deal.update"
COMMENT_ADD = "timeline.comment.add"

FAULTABLE_ACTION = LEAD_CREATE
ERROR_CODES = ("QUERY_LIMIT_EXCEEDED", "ERROR_CORE", "INTERNAL_SERVER_ERROR", "timeout")
TIMEOUT_S = 0.8
_BASELINE_ERRORS = {DEAL_CREATE: 0.01, DEAL_UPDATE: 0.02, COMMENT_ADD: 0.02}
_MAX_HEALTHY_S = 0.6


def lead_id(number: int) -> str:
    return str(24000 + number)


def deal_id(number: int) -> str:
    return str(8100 + number)


def healthy_latency_ns(rng: random.Random) -> int:
    seconds = min(rng.lognormvariate(math.log(0.22), 0.35), _MAX_HEALTHY_S)
    return int(seconds * NS_PER_S)


def error_latency_ns(code: str, u: float) -> int:
    if code == "timeout":
        return int(TIMEOUT_S * NS_PER_S)
    return int((0.06 + 0.24 * u) * NS_PER_S)


def worst_case_ns(action: str) -> int:
    """The longest a call may take once faults are injected (what the turn budget must leave room for)."""
    return int((TIMEOUT_S if action == FAULTABLE_ACTION else _MAX_HEALTHY_S) * NS_PER_S)


def call(rng: random.Random, action: str, entity_id: str, start_ns: int) -> list[CrmCall]:
    """The calls the bot makes for one action: one, or a failed one and its retry."""
    calls: list[CrmCall] = []
    roll, code_roll = rng.random(), rng.random()
    if roll < _BASELINE_ERRORS.get(action, 0.0):
        code = "QUERY_LIMIT_EXCEEDED" if code_roll < 0.7 else "ERROR_CORE"
        end = start_ns + error_latency_ns(code, rng.random())
        calls.append(CrmCall(action, SYSTEM, start_ns, end, None, code))
        if action != DEAL_CREATE:
            return calls
        start_ns = end + int(0.1 * NS_PER_S)
    end = start_ns + healthy_latency_ns(rng)
    calls.append(CrmCall(action, SYSTEM, start_ns, end, entity_id))
    return calls
