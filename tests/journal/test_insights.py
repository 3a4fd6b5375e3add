"""``botwatch insights`` finds a planted problem and stays quiet on a clean bot; change impact finds a switch.

The planted problem is the simulator's ``broken_price`` fault: in scenario
variant B the bot misreads the price question and the client leaves.  Two
runs of ``botwatch demo`` (one with the fault, one clean, different seeds)
are read back from their journals.  Change impact is driven through the real
SDK with a virtual clock: conversations over four weeks with a model switch
in the middle, once lowering conversion by 8 points and once changing nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sdk_journal import sdk_journal, simulate, simulate_switch

import botwatch
from botwatch.demo.sdk_protocols import VirtualClock
from botwatch.journal import Journal
from botwatch.journal.impact import MOSCOW, compare_variants, measure_changes
from botwatch.journal.insights import find_losses

pytestmark = pytest.mark.slow
CONVERSATIONS = 1500
SECRET = "insights-test-secret-0123456789"


def run_demo(journal: Path, seed: int, faults: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BOTWATCH_SECRET_FILE": str(journal.parent / "secret")}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    argv = [sys.executable, "-m", "botwatch.cli", "demo", f"-n={CONVERSATIONS}", f"--seed={seed}"]
    argv += [f"--faults={faults}", f"--journal={journal}"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def journals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A planted-problem run and a clean run, made side by side (one core each)."""
    directory = tmp_path_factory.mktemp("insights")
    paths = {"planted": directory / "planted.sqlite", "clean": directory / "clean.sqlite"}
    runs = {
        "planted": run_demo(paths["planted"], 21, "broken_price=0.9"),
        "clean": run_demo(paths["clean"], 22, "none"),
    }
    for name, process in runs.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {err[-2000:]}"
    return paths


def window() -> tuple[datetime, datetime]:
    until = datetime.now(UTC)
    return until - timedelta(days=8), until  # the demo back-dates over the last 7 days


def test_the_planted_step_ranks_first_outside_the_others_interval(journals: dict[str, Path]) -> None:
    with Journal(journals["planted"]) as journal:
        insights = find_losses(journal, *window())
    assert insights.conversations == CONVERSATIONS
    first = insights.findings[0]
    assert (first.step, first.segment) == ("intent=price", "variant=B"), [f.title_en for f in insights.findings]
    assert first.ci_low > first.rest_ci_high  # its loss rate lies outside the interval of the others
    assert first.p_value < 0.01 and first.loss_rate - first.rest_rate >= 0.2
    assert max(first.reasons, key=lambda r: first.reasons[r]) == "low_confidence"  # what the fault does
    with Journal(journals["planted"]) as journal:
        for example in first.examples:  # each example really ended at the broken step without a booking
            entries = journal.replay(example)
            assert any(e.intent == "price" for e in entries), example
            assert not any(e.funnel_stage == "booking_created" for e in entries), example


def test_a_clean_run_has_no_finding_above_the_noise(journals: dict[str, Path]) -> None:
    with Journal(journals["clean"]) as journal:
        insights = find_losses(journal, *window())
    assert insights.conversations == CONVERSATIONS
    assert insights.comparisons > 20  # the steps were compared, and none stood out
    assert insights.findings == [], [f.title_en for f in insights.findings]


def test_cli_in_russian_and_rounded_json(journals: dict[str, Path]) -> None:
    stderr: list[str] = []

    def insights(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "botwatch.cli", "insights", "--since=8d", f"--journal={journals['planted']}", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        stderr.append(result.stderr)
        return result.stdout

    assert insights().startswith("Где теряются клиенты")
    steps = [line.split(" … ")[0] for line in stderr[-1].splitlines()]  # progress on a long journal
    assert steps[0] == "botwatch insights: conversations" and steps[-1] == "botwatch insights: done", steps

    text = insights("--quiet")
    assert stderr[-1] == ""
    assert text.startswith("Где теряются клиенты")
    assert "1. вопрос о цене, вариант сценария B: теряется" in text
    assert "бот не понял клиента" in text
    assert re.search(r" против \d+% \(\d+%–\d+%\) · p(<0,0001|=[\d,e-]+)\n", text) and "p=<" not in text, text
    assert "больше чем на 20 п.п., p<0,01)" in text  # the thresholds the findings were chosen by
    assert "больше чем на 30 п.п., p<0,05)" in insights("--quiet", "--min-effect=0.3", "--alpha=0.05")
    data = json.loads(insights("--json", "--quiet"))
    assert data["findings"][0]["step"] == "intent=price"
    for number in (data["average_loss"], data["findings"][0]["loss_rate"], *data["findings"][0]["ci"]):
        assert number == round(number, 3)


def test_a_model_switch_that_costs_8_points_is_found_with_its_date(tmp_path: Path) -> None:
    switch = simulate_switch(tmp_path / "worse.sqlite", 0.41, 0.33, seed=5)
    with Journal(tmp_path / "worse.sqlite") as journal:
        changes = measure_changes(journal.facts(switch - timedelta(days=15), switch + timedelta(days=15)))
    (change,) = changes
    assert (change.attribute, change.before, change.after) == ("model", "gpt-4o-mini", "yandexgpt-lite")
    assert abs(change.changed_at - switch) < timedelta(hours=1)
    assert change.significant and change.worse, (change.conversion_before, change.conversion_after, change.p_value)
    assert change.side_before.conversations == change.side_after.conversations == 800
    assert "конверсия упала" in change.sentence_ru and "подумайте об откате" in change.sentence_ru
    assert re.search(r"\(p(=0,\d\d|<0,01)\)", change.sentence_ru), change.sentence_ru  # never "p=<0,01"
    local = change.changed_at.astimezone(MOSCOW)  # both languages name the same day: Moscow's
    ru_day = re.search(r"yandexgpt-lite (\d+) ", change.sentence_ru)
    en_day = re.search(r" on (\d+) ", change.sentence_en)
    assert ru_day and en_day and int(ru_day[1]) == int(en_day[1]) == local.day, (change.sentence_ru, local)


def test_a_switch_is_compared_on_reply_time_understanding_and_leads_too(tmp_path: Path) -> None:
    path = tmp_path / "slower.sqlite"
    simulate_switch(path, 0.41, 0.41, seed=7, slower_after=True)
    result = subprocess.run(
        [sys.executable, "-m", "botwatch.cli", "insights", "--since=29d", f"--journal={path}", "--json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (change,) = json.loads(result.stdout)["changes"]
    before, after = change["measures_before"], change["measures_after"]
    assert (before["conversations"], after["conversations"]) == (800, 800)
    assert (before["turn_p50_s"], after["turn_p50_s"]) == (pytest.approx(0.8, abs=0.05), pytest.approx(3.5, abs=0.05))
    assert (before["sla_breach_share"], after["sla_breach_share"]) == (0.0, 1.0)
    assert (before["low_confidence_share"], after["low_confidence_share"]) == (0.0, 1.0)
    assert before["lead_failure_rate"] is after["lead_failure_rate"] is None  # no lead was created on either side
    text = subprocess.run(
        [sys.executable, "-m", "botwatch.cli", "insights", "--since=29d", f"--journal={path}", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "ответ (медиана) 0,8 с → 3,5 с · ответ дольше 3 с 0% → 100% · бот не понял клиента 0% → 100%" in text


def test_a_switch_that_changes_nothing_is_reported_as_no_significant_change(tmp_path: Path) -> None:
    switch = simulate_switch(tmp_path / "same.sqlite", 0.41, 0.41, seed=6)
    with Journal(tmp_path / "same.sqlite") as journal:
        (change,) = measure_changes(journal.facts(switch - timedelta(days=15), switch + timedelta(days=15)))
    assert abs(change.changed_at - switch) < timedelta(hours=1)
    assert not change.significant, change.p_value
    assert "значимого изменения нет" in change.sentence_ru and "no significant change" in change.sentence_en
    short = dataclasses.replace(change, min_side=1000)  # the same switch, judged before 1000 conversations a side
    assert "данных пока мало (нужно около 1000 разговоров" in short.sentence_ru
    assert "not enough data yet (about 1000 conversations" in short.sentence_en


@pytest.mark.parametrize(("rate_b", "significant"), [(0.29, True), (0.41, False)])
def test_live_variants_are_compared_with_each_other_not_taken_for_switches(
    tmp_path: Path, rate_b: float, significant: bool
) -> None:
    """A and B served side by side for four weeks: a comparison of variants, never a switch."""
    start = datetime.now(UTC) - timedelta(days=28)
    served = iter(range(10**6))

    def plan(at: datetime) -> tuple[str, str | None, float, bool]:
        return ("gpt-4o-mini", "A", 0.41, False) if next(served) % 2 == 0 else ("gpt-4o-mini", "B", rate_b, False)

    simulate(tmp_path / "ab.sqlite", 8, plan, start)
    with Journal(tmp_path / "ab.sqlite") as journal:
        facts = journal.facts(start - timedelta(days=1), datetime.now(UTC))
    assert measure_changes(facts) == []  # B appeared on day one and never took 80 %: not a switch
    by_variant = {v.variant: v for v in compare_variants(facts)}
    assert set(by_variant) == {"A", "B"} and by_variant["B"].other == "A"
    assert by_variant["A"].side.conversations == by_variant["B"].side.conversations == 800
    assert by_variant["B"].significant is significant, by_variant["B"].p_value
    assert by_variant["B"].side.conversion == pytest.approx(rate_b, abs=0.05)


def simulate_weeks(path: Path, leave_before: float, leave_now: float, seed: int) -> datetime:
    """Five weeks of one variant, one model, one channel: the price answer loses ``leave_before`` of the clients
    for four weeks, then ``leave_now`` in the last one.  Returns the start of the last week."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    last_week = now - timedelta(days=7)
    with sdk_journal(path, "history-test-bot", SECRET):
        for number in range(900):
            at = now - timedelta(days=35) + timedelta(days=35) * (number / 900)
            clock = VirtualClock(int(at.timestamp() * 1e9))
            leave = leave_now if at >= last_week else leave_before
            with botwatch.conversation(f"weeks-{seed}-{number}", channel="telegram", clock=clock) as conversation:
                if number % 2:  # half say hello first, so the price question is not always the first message
                    with conversation.turn("Здравствуйте") as turn:
                        turn.intent("greeting", confidence=0.95)
                        clock.set(clock() + 500_000_000)
                        turn.reply("Здравствуйте! Чем помочь?")
                with conversation.turn("Сколько стоит стрижка?") as turn:
                    turn.intent("price", confidence=0.9)
                    clock.set(clock() + 700_000_000)
                    turn.reply("Стрижка стоит 1500 ₽")
                if rng.random() >= leave:
                    with conversation.turn("Запишите на завтра") as turn:
                        turn.intent("booking", confidence=0.92)
                        clock.set(clock() + 900_000_000)
                        turn.reply("Записала на 15:00")
                    conversation.funnel("booking_created")
            if number % 100 == 99:
                botwatch.flush()
    return last_week


def test_a_step_broken_everywhere_is_found_against_its_own_weeks_before(tmp_path: Path) -> None:
    """One variant, model and channel: nothing to compare across, so the step's own history must find it."""
    last_week = simulate_weeks(tmp_path / "weeks.sqlite", leave_before=0.3, leave_now=0.8, seed=7)
    with Journal(tmp_path / "weeks.sqlite") as journal:
        insights = find_losses(journal, last_week, datetime.now(UTC) + timedelta(minutes=1))
        quiet = find_losses(journal, last_week, datetime.now(UTC) + timedelta(minutes=1), history_windows=0)
    first = insights.findings[0]
    assert (first.step, first.segment) == ("intent=price", "period=now"), [f.title_en for f in insights.findings]
    assert first.against_history and first.ci_low > first.rest_ci_high
    assert "а в прошлые недели" in first.title_ru
    assert quiet.findings == []  # without the weeks before there is nothing to compare this bot with


def test_steady_weeks_give_no_finding(tmp_path: Path) -> None:
    last_week = simulate_weeks(tmp_path / "steady.sqlite", leave_before=0.3, leave_now=0.3, seed=8)
    with Journal(tmp_path / "steady.sqlite") as journal:
        insights = find_losses(journal, last_week, datetime.now(UTC) + timedelta(minutes=1))
    assert insights.comparisons > 0 and insights.findings == [], [f.title_en for f in insights.findings]
