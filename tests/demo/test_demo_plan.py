"""The simulator's plans: deterministic, realistic, on time, and faults that change exactly their KPI.

These tests need no SDK: planning is pure.

Tolerances for fault rates: each turn (or each lead.create) is hit
independently with probability p, so the observed share is binomial with
standard deviation sqrt(p(1-p)/n).  The tests allow 4 standard deviations,
a false alarm on about 1 seed in 16 000 (and the seeds are fixed anyway).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from harness.paths import REPO as ROOT

from botwatch import semconv
from botwatch.demo import NO_FAULTS, ConversationPlan, Faults, parse_faults, plan_conversation
from botwatch.demo.classifier import INTENTS
from botwatch.demo.plan import NS_PER_S, Funnel, Send, Step, Turn, step_end, step_start
from botwatch.demo.simulated_bitrix24 import ERROR_CODES, LEAD_CREATE

NOW = 1_790_000_000 * NS_PER_S  # a fixed "now" (2026-09-21) so absolute times are reproducible
DAY = 86400 * NS_PER_S
WEEK = 7 * DAY
N = 1000


def plans(seed: int, faults: Faults = NO_FAULTS, n: int = N) -> list[ConversationPlan]:
    return [plan_conversation(seed, i, faults, now_ns=NOW) for i in range(n)]


@pytest.fixture(scope="module")
def baseline() -> list[ConversationPlan]:
    return plans(11)


def tolerance(p: float, n: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / n)


def essence(plan: ConversationPlan) -> list[object]:
    """Everything about a plan except timings and what faults may change."""
    rows: list[object] = [plan.id, plan.business, plan.scenario, plan.channel, plan.variant, plan.model]
    for session in plan.sessions:
        for step in session.steps:
            if isinstance(step, Turn):
                rows.append(
                    (
                        step.index,
                        step.text,
                        step.intent,
                        step.reply,
                        [(c.model, c.input_tokens, c.output_tokens, c.error) for c in step.llm_calls],
                        [c.action for c in step.crm_calls],
                    )
                )
            elif isinstance(step, Send):
                rows.append((step.kind, step.text))
            else:
                rows.append(step.stage)
    return rows


def without_confidence(plan: ConversationPlan) -> ConversationPlan:
    def strip(step: Step) -> Step:
        if isinstance(step, Turn):
            return dataclasses.replace(step, confidence=0.0, low_confidence_injected=False)
        return step

    sessions = tuple(dataclasses.replace(s, steps=tuple(strip(step) for step in s.steps)) for s in plan.sessions)
    return dataclasses.replace(plan, sessions=sessions)


def other_crm_errors(plans: list[ConversationPlan]) -> list[list[str | None]]:
    return [[c.error for t in p.turns for c in t.crm_calls if c.action != LEAD_CREATE] for p in plans]


# --- determinism ------------------------------------------------------------------------
def test_same_seed_same_plans(baseline: list[ConversationPlan]) -> None:
    assert plans(11, n=200) == baseline[:200]
    again = plans(11, parse_faults("slow_llm=0.3,low_confidence=0.2,crm_errors=0.5"), n=200)
    assert again == plans(11, parse_faults("slow_llm=0.3,low_confidence=0.2,crm_errors=0.5"), n=200)


def test_other_seed_other_plans(baseline: list[ConversationPlan]) -> None:
    other = plans(12, n=200)
    assert sum(a.turns[0].text == b.turns[0].text for a, b in zip(other, baseline, strict=False)) < 40
    assert other[0].id == "demo-12-0" and baseline[5].id == "demo-11-5"


def test_plans_do_not_depend_on_hash_seed() -> None:
    """String-seeded RNGs must give the same plans in a fresh process with another PYTHONHASHSEED."""
    code = (
        "import hashlib; from botwatch.demo import plan_conversation, parse_faults;"
        "f = parse_faults('slow_llm=0.3,crm_errors=0.5');"
        f"plans = [plan_conversation(5, i, f, now_ns={NOW}) for i in range(50)];"
        "print(hashlib.sha256(repr(plans).encode()).hexdigest())"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONHASHSEED="12345")
    digest = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    faults = parse_faults("slow_llm=0.3,crm_errors=0.5")
    local = [plan_conversation(5, i, faults, now_ns=NOW) for i in range(50)]
    assert digest.strip() == hashlib.sha256(repr(local).encode()).hexdigest()


def test_conversation_is_independent_of_the_others() -> None:
    """Conversation n can be planned alone: the runner never holds more than one."""
    assert plan_conversation(3, 777, now_ns=NOW) == plans(3, n=778)[777]


# --- realism ------------------------------------------------------------------------------
def test_mix_of_businesses_channels_variants_models_scenarios(baseline: list[ConversationPlan]) -> None:
    assert {p.business for p in baseline} == {"salon", "clinic", "barbershop"}
    assert {p.channel for p in baseline} == {"whatsapp", "telegram", "instagram", "web"}
    assert {p.channel for p in baseline} <= set(semconv.DEFAULT_CHANNELS)
    assert Counter(p.variant for p in baseline).keys() == {"A", "B"}
    assert {p.model for p in baseline} == {"gpt-4o-mini", "yandexgpt-lite"}
    assert set(Counter(p.scenario for p in baseline)) == {
        "booking",
        "price",
        "info",
        "reschedule",
        "payment",
        "cancel",
        "complaint",
    }
    turns = [t for p in baseline for t in p.turns]
    assert {t.intent for t in turns} == set(INTENTS)
    stages = Counter(s for p in baseline for s in p.funnel_stages)
    assert set(stages) <= set(semconv.FUNNEL_STAGES)
    expected = set(semconv.FUNNEL_STAGES) - {semconv.CONVERSATION_STARTED}  # the SDK records that one
    assert set(stages) == expected
    kinds = Counter(s.kind for p in baseline for sess in p.sessions for s in sess.steps if isinstance(s, Send))
    assert set(kinds) == {"reminder", "feedback", "no_show", "receipt"}
    assert stages[semconv.REMINDER_SENT] == kinds["reminder"]


def test_messages_are_russian_with_phones_and_emails(baseline: list[ConversationPlan]) -> None:
    texts = [t.text for p in baseline for t in p.turns]
    assert all(re.search("[а-яА-ЯёЁ]", t) or re.search(r"\d", t) for t in texts)
    phones = [t for t in texts if re.search(r"(\+7|8)?[\s(-]*9\d\d[\s)-]*\d{3}[\s-]*\d\d[\s-]*\d\d", t)]
    emails = [t for t in texts if re.search(r"[\w.]+@[\w.]+\.ru|@gmail\.com", t)]
    assert len(phones) > 100 and len(emails) > 20
    formats = {re.sub(r"\d", "0", m.group(0)) for t in phones for m in [re.search(r"[+\d(][\d\s()+-]{9,}\d", t)] if m}
    assert len(formats) >= 6  # "+7 912 345-67-89", "89123456789", "8 (912) 345-67-89", ...
    assert all(p.client_phone is None or re.fullmatch(r"\+79\d{9}", p.client_phone) for p in baseline)


def test_complaints_escalate_and_leads_go_to_bitrix(baseline: list[ConversationPlan]) -> None:
    for plan in baseline:
        for turn in plan.turns:
            if semconv.ESCALATED in turn.funnel:
                assert turn.true_intent == "complaint"
            if semconv.LEAD_CREATED in turn.funnel:
                assert [c.action for c in turn.crm_calls] == [LEAD_CREATE]
                assert turn.crm_calls[0].entity_id


def test_confidences_mostly_high_some_ambiguous_none_low(baseline: list[ConversationPlan]) -> None:
    confidences = [t.confidence for p in baseline for t in p.turns]
    assert min(confidences) >= 0.61 and max(confidences) <= 0.99
    assert 0.05 < sum(c < 0.8 for c in confidences) / len(confidences) < 0.2


def test_llm_latency_and_tokens(baseline: list[ConversationPlan]) -> None:
    calls = [c for p in baseline for t in p.turns for c in t.llm_calls if c.error is None]
    by_model: dict[str, list[float]] = {}
    for c in calls:
        by_model.setdefault(c.model, []).append(c.seconds)
        assert c.input_tokens > c.output_tokens > 0 and c.cost > 0
    for model, seconds in by_model.items():
        seconds.sort()
        assert 0.6 < seconds[len(seconds) // 2] < 1.5, model
    assert by_model["gpt-4o-mini"][len(by_model["gpt-4o-mini"]) // 2] > by_model["yandexgpt-lite"][0]


# --- time -----------------------------------------------------------------------------------
def test_nothing_happens_in_the_future_and_the_window_holds(baseline: list[ConversationPlan]) -> None:
    faulty = plans(11, parse_faults("slow_llm=1,crm_errors=1"), n=300)
    for plan in baseline + faulty:
        assert plan.end_ns <= NOW
        assert plan.start_ns >= NOW - WEEK - DAY  # a chat may start at most a day early when the window is tight
        times = [t for s in plan.sessions for step in s.steps for t in (step_start(step), step_end(step))]
        assert times == sorted(times)
        assert plan.sessions[0].resume is False and all(s.resume for s in plan.sessions[1:])
    starts = sorted(p.start_ns for p in baseline)
    assert starts[len(starts) // 10] < NOW - 5 * DAY and starts[-len(starts) // 10] > NOW - 2 * DAY


def test_follow_ups_come_hours_to_days_after_the_chat(baseline: list[ConversationPlan]) -> None:
    gaps = [b.start_ns - a.end_ns for p in baseline for a, b in zip(p.sessions, p.sessions[1:], strict=False)]
    assert min(gaps) >= 25 * 60 * NS_PER_S
    assert max(gaps) > DAY


def test_live_conversation_ends_now() -> None:
    for i in range(100):
        plan = plan_conversation(4, i, now_ns=NOW, live_elapsed_s=1.0)
        assert NOW - 60 * 60 * NS_PER_S < plan.end_ns <= NOW or len(plan.sessions) > 1
        assert plan.end_ns <= NOW and plan.end_ns > NOW - DAY


# --- faults ---------------------------------------------------------------------------------
def test_without_faults_no_kpi_is_off(baseline: list[ConversationPlan]) -> None:
    turns = [t for p in baseline for t in p.turns]
    assert not any(t.over_sla for t in turns)
    assert max(t.seconds for t in turns) < 2.86
    assert not any(c.error for t in turns for c in t.crm_calls if c.action == LEAD_CREATE)


@pytest.mark.parametrize("rate", [0.3, 0.7])
def test_slow_llm_puts_that_share_of_turns_over_sla_and_changes_nothing_else(
    baseline: list[ConversationPlan], rate: float
) -> None:
    faulty = plans(11, Faults.constant(slow_llm=rate))
    turns = [t for p in faulty for t in p.turns]
    share = sum(t.over_sla for t in turns) / len(turns)
    assert abs(share - rate) < tolerance(rate, len(turns))
    for t in turns:
        assert t.over_sla == t.llm_calls[-1].slowed
        if t.over_sla:
            assert 3.5 <= t.llm_calls[-1].seconds <= 8.0
    assert [essence(p) for p in faulty] == [essence(p) for p in baseline]
    assert [[t.confidence for t in p.turns] for p in faulty] == [[t.confidence for t in p.turns] for p in baseline]
    assert [[c.error for t in p.turns for c in t.crm_calls] for p in faulty] == [
        [c.error for t in p.turns for c in t.crm_calls] for p in baseline
    ]
    for before, after in zip(baseline, faulty, strict=True):
        for b, a in zip(before.turns, after.turns, strict=True):
            if not a.llm_calls[-1].slowed:
                assert a.seconds == b.seconds


def test_low_confidence_hits_that_share_of_turns_and_changes_nothing_else(baseline: list[ConversationPlan]) -> None:
    faulty = plans(11, Faults.constant(low_confidence=0.2))
    turns = [t for p in faulty for t in p.turns]
    low = [t for t in turns if t.confidence < semconv.LOW_CONFIDENCE]
    assert abs(len(low) / len(turns) - 0.2) < tolerance(0.2, len(turns))
    assert all(t.low_confidence_injected for t in low) and all(t.confidence >= 0.3 for t in low)
    assert [without_confidence(p) for p in faulty] == [without_confidence(p) for p in baseline]


def test_crm_errors_fail_that_share_of_lead_creations_and_change_nothing_else(
    baseline: list[ConversationPlan],
) -> None:
    faulty = plans(11, Faults.constant(crm_errors=0.5))
    leads = [c for p in faulty for t in p.turns for c in t.crm_calls if c.action == LEAD_CREATE]
    failed = [c for c in leads if c.error]
    assert abs(len(failed) / len(leads) - 0.5) < tolerance(0.5, len(leads))
    assert {c.error for c in failed} == set(ERROR_CODES)
    assert all(c.injected and c.entity_id is None for c in failed)
    assert other_crm_errors(faulty) == other_crm_errors(baseline)
    assert [essence(p) for p in faulty] == [essence(p) for p in baseline]
    lost = Counter(s for p in baseline for s in p.funnel_stages) - Counter(s for p in faulty for s in p.funnel_stages)
    assert lost == Counter({semconv.LEAD_CREATED: len(failed)})
    assert not any(t.over_sla for p in faulty for t in p.turns)
    assert [[t.confidence for t in p.turns] for p in faulty] == [[t.confidence for t in p.turns] for p in baseline]


def test_faults_do_not_disturb_each_other(baseline: list[ConversationPlan]) -> None:
    slow = plans(11, Faults.constant(slow_llm=0.3), n=300)
    both = plans(11, Faults.constant(slow_llm=0.3, low_confidence=0.2, crm_errors=0.5), n=300)
    assert [[t.llm_calls[-1].slowed for t in p.turns] for p in slow] == [
        [t.llm_calls[-1].slowed for t in p.turns] for p in both
    ]


def test_fault_windows_in_batch_mode_count_from_the_window_start() -> None:
    faulty = plans(21, parse_faults("slow_llm=1@2d-3d,low_confidence=1@5d-"), n=400)
    run_start = NOW - WEEK
    inside = outside = 0
    for plan in faulty:
        for t in plan.turns:
            elapsed = (t.start_ns - run_start) / NS_PER_S
            assert t.over_sla == (2 * 86400 <= elapsed < 3 * 86400)
            assert (t.confidence < 0.6) == (elapsed >= 5 * 86400)
            inside += t.over_sla
            outside += not t.over_sla
    assert inside > 50 and outside > 500


def test_fault_window_in_live_mode_uses_the_run_clock() -> None:
    faults = parse_faults("low_confidence=1@10s-20s")
    for at, low in ((9.9, False), (10.0, True), (19.9, True), (20.0, False)):
        plan = plan_conversation(2, 1, faults, now_ns=NOW, live_elapsed_s=at)
        assert all((t.confidence < 0.6) == low for t in plan.turns)


def test_funnel_steps_outside_turns_are_plain_stages(baseline: list[ConversationPlan]) -> None:
    outside = {s.stage for p in baseline for sess in p.sessions for s in sess.steps if isinstance(s, Funnel)}
    assert outside == {
        semconv.REMINDER_SENT,
        semconv.VISIT_COMPLETED,
        semconv.NO_SHOW,
        semconv.PAID,
    }
