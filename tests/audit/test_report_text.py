"""The report's words and rules without a browser: targets agree with the alerts, one "no data" rule,
the Telegram summary stays valid and short, ``kpi`` takes the report's window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from harness.paths import REPO
from telegram_entities import check

from botwatch.audit import report_measures as rm
from botwatch.audit.report import Day, ReportData
from botwatch.audit.report_html import render
from botwatch.audit.report_summary import summary
from botwatch.audit.report_text import TEXT, intent_name, percent, points, step_name
from botwatch.audit.targets import TARGETS
from botwatch.cli import main
from botwatch.demo.classifier import INTENTS
from botwatch.integrations.business_settings import business_timezone
from botwatch.journal import Kpi

UNTIL = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def kpi(conversations: int = 0, **values: object) -> Kpi:
    base: dict[str, object] = dict.fromkeys(
        (
            "conversations_booked",
            "turns",
            "turns_over_sla",
            "turns_with_intent",
            "low_confidence_turns",
            "no_shows",
            "visits_completed",
            "escalations",
            "lead_creates",
            "lead_create_failures",
            "llm_calls",
            "input_tokens",
            "output_tokens",
        ),
        0,
    )
    base.update(turn_p50_s=None, turn_p95_s=None, llm_cost=0.0, conversations_escalated=0)
    base.update(values)
    return Kpi(since=UNTIL - timedelta(days=7), until=UNTIL, conversations=conversations, **base)  # type: ignore[arg-type]


BUSY = kpi(
    120,
    conversations_booked=50,
    turns=400,
    turns_over_sla=60,
    turns_with_intent=400,
    low_confidence_turns=100,
    no_shows=5,
    visits_completed=40,
    no_shows_reminded=2,
    visits_reminded=35,
    lead_creates=50,
    lead_create_failures=10,
    conversations_escalated=12,
    rescheduled=7,
    complaints=3,
    services=("salon-bot",),
)


def data(current: Kpi, previous: Kpi) -> ReportData:
    days = [Day(date(2026, 11, 30) + timedelta(days=n), current, n == 6) for n in range(7)]
    return ReportData(UNTIL - timedelta(days=7), UNTIL, business_timezone("Europe/Moscow"), current, previous, days)


def test_targets_are_the_alert_thresholds():
    rules = yaml.safe_load((REPO / "alerts" / "rules" / "thresholds.yml").read_text())
    thresholds = {
        r["record"]: float(r["expr"].removeprefix("vector(").rstrip(")")) for r in rules["groups"][0]["rules"]
    }
    assert TARGETS.sla_share == thresholds["botwatch:threshold:turn_sla_breach_warning_ratio"]
    assert TARGETS.low_confidence_share == thresholds["botwatch:threshold:low_intent_confidence_ratio"]
    assert TARGETS.lead_failure_share == thresholds["botwatch:threshold:lead_create_failure_ratio"]


def test_both_languages_have_every_string():
    assert set(TEXT["ru"]) == set(TEXT["en"])
    assert percent("ru", 0.4125) == "41,2\u00a0%" and percent("en", 0.4125) == "41.2\u00a0%"
    assert points("ru", -5.66) == "-5,7\u00a0п.п." and percent("ru", None) == "нет данных"


def test_a_report_of_other_than_seven_days_never_says_week():
    from botwatch.audit.report_text import days_word, title

    assert [days_word("ru", n) for n in (1, 2, 5, 11, 21, 22, 28)] == [
        "1 день",
        "2 дня",
        "5 дней",
        "11 дней",
        "21 день",
        "22 дня",
        "28 дней",
    ]
    assert title("ru", 7) == "Бот за неделю" and title("ru", 28) == "Бот за 28 дней"
    month = data(BUSY, kpi(0))
    month = ReportData(month.since, month.until, month.tz, BUSY, kpi(0), month.days * 4)
    page = render(month)
    assert "недел" not in page and page.count("нет данных за прошлый период") == len(rm.MEASURES)


def test_an_empty_previous_week_is_no_data_on_every_card():
    page = render(data(BUSY, kpi(0)))
    changes = [rm.compare("ru", m, BUSY, kpi(0)) for m in rm.MEASURES]
    assert changes == [("нет данных за прошлую неделю", "flat")] * len(rm.MEASURES)
    assert page.count("нет данных за прошлую неделю") == len(rm.MEASURES)
    assert "было" not in page and "data-kpi-previous" not in page


def test_a_previous_week_compares_each_card_or_says_no_data():
    before = kpi(100, conversations_booked=30, turns=300, turns_over_sla=9, turns_with_intent=300, lead_creates=0)
    text, css = rm.compare("ru", rm.MEASURES[1], BUSY, before)  # bookings 41.7 % after 30 %
    assert (text, css) == ("+11,7\u00a0п.п. к прошлой неделе (было 30,0\u00a0%)", "good")
    text, css = rm.compare("ru", rm.MEASURES[0], BUSY, before)
    assert (text, css) == ("+20 к прошлой неделе (было 100)", "good")
    leads = next(m for m in rm.MEASURES if m.key == "lead_failure_rate")
    assert rm.compare("ru", leads, BUSY, before) == ("нет данных за прошлую неделю", "flat")  # no leads before
    sla = next(m for m in rm.MEASURES if m.key == "sla_breach_share")
    assert rm.compare("ru", sla, BUSY, before)[1] == "bad" and rm.on_target(sla, BUSY) is False


def test_what_to_do_names_each_missed_target():
    page = render(data(BUSY, kpi(0)))
    todo = page.split('id="todo"')[1]
    assert "Бот отвечает медленно (15,0\u00a0% ответов дольше 3 с)" in todo
    assert "Бот часто не понимает клиентов (25,0\u00a0%)" in todo
    assert "Заявки не доходят до CRM (20,0\u00a0%)" in todo
    assert "напоминайте всем" in todo  # 3 of 8 without a reminder missed, 2 of 37 with one
    calm = render(data(kpi(10, conversations_booked=5, turns=20, turns_with_intent=20), kpi(0)))
    assert "Всё в норме" in calm.split('id="todo"')[1]


def test_telegram_summary_is_valid_html_in_russian_under_the_limit():
    text = summary(data(BUSY, kpi(0)))
    assert check("text", text, "HTML") and len(text) < 4096
    assert text.startswith("<b>Бот за неделю</b>") and "Записи: <b>41,7\u00a0%</b>" in text
    assert "Ответ дольше 3 секунд: <b>15,0\u00a0%</b> ⚠️" in text
    hostile = kpi(120, services=("<b>&",), conversations_booked=50)
    assert check("text", summary(data(hostile, kpi(0))), "HTML")


def test_kpi_takes_the_reports_window_and_refuses_a_backwards_one(tmp_path, capsys):
    from botwatch.journal.schema import connect

    empty = tmp_path / "j.sqlite"
    connect(empty, create=True).close()
    since, until = "2026-11-30T00:00:00+03:00", "2026-12-06T12:00:00+03:00"
    assert main(["kpi", "--json", "--since", since, "--until", until, "--journal", str(empty)]) == 0
    out = json.loads(capsys.readouterr().out)
    window = [datetime.fromisoformat(out[k]) for k in ("since", "until")]
    assert window == [datetime(2026, 11, 29, 21, tzinfo=UTC), datetime(2026, 12, 6, 9, tzinfo=UTC)]
    assert main(["kpi", "--since", until, "--until", since, "--journal", str(empty)]) == 2
    assert "--since must be before --until" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["kpi", "--since", "last tuesday", "--journal", str(empty)])


def test_a_finding_and_a_worse_switch_of_any_kind_read_in_the_pages_words():
    from dataclasses import replace

    from botwatch.journal.impact import ChangeImpact, Side
    from botwatch.journal.insights import Finding

    finding = Finding(
        step="intent=price",
        segment="variant=B",
        reached=81,
        lost=67,
        rest_reached=400,
        rest_lost=4,
        p_value=1e-9,
        reasons={"low_confidence": 65, "left": 2},
        examples=(),
    )
    before, after = Side(400, 160, 800, 0, 0, 0, 0, 0.8), Side(400, 120, 800, 0, 0, 0, 0, 0.8)
    for attribute, ru, en in (
        ("model", "модель", "model"),
        ("release", "версию бота", "bot release"),
        ("scenario_version", "версию сценария", "scenario version"),
    ):
        change = ChangeImpact(attribute, "v1", "v2", UNTIL - timedelta(days=3), before, after, 1e-4, 300, 30)
        shown = replace(data(BUSY, kpi(0)), findings=[finding], changes=[change], analysed=True)
        page, english = render(shown), render(shown, "en")
        assert f"Верните прежнюю {ru} (v1)" in page.split('id="todo"')[1], attribute
        assert f"Roll the {en} back to v1" in english.split('id="todo"')[1], attribute
    # No-shows count the visits due in the period, not the bookings made in it: the words say so.
    assert 'из <b data-kpi="appointments">45</b> клиентов, которых ждали в эти дни, не пришли' in page
    # The loss rate reads as every share on the page, the same in the heading and in what to do.
    heading = page.split('<h3 class="bad">')[1].split("</h3>")[0]
    assert heading == "вопрос о цене, вариант сценария B: теряется 82,7\u00a0% клиентов, в остальных случаях 1,0\u00a0%"
    assert "вопрос о цене, вариант сценария B — там теряется 82,7\u00a0% клиентов" in page.split('id="todo"')[1]


def test_intent_ids_are_written_in_the_owners_words():
    """No classifier id in Russian text: known intents have a name, an unknown id stays visible, in quotes."""
    for intent in INTENTS:  # every intent the demo's bots recognise
        assert intent not in intent_name(intent), intent
        assert intent_name(intent, "en") != intent_name(intent), intent
    assert intent_name("price_question") == intent_name("Price-Question") == "вопрос о цене"
    assert intent_name("vip_upsell") == "«vip_upsell»"
    assert intent_name("vip_upsell", "en") == "'vip_upsell'"
    assert step_name("intent=price_question") == "вопрос о цене"
    assert step_name("intent=vip_upsell") == "тема «vip_upsell»"
    assert step_name("turn=6") == "сообщение №6 в диалоге"
    assert step_name("intent=reschedule", "en") == "rescheduling"
