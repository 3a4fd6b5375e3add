"""``botwatch report``: the owner's week in Russian, its numbers equal to ``kpi --json``, sent to Telegram."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

import pytest
from report_page import as_number, parse
from sdk_journal import simulate_switch  # 800 conversations on one model, 800 on the next
from telegram_api import TOKEN, BotAPI
from telegram_entities import plain

from botwatch.cli import main
from botwatch.journal.schema import connect

OWNER_WORDS_RU = ("Обращения", "Записи", "Неявки", "Ответ дольше 3 секунд", "Бот не понял клиента", "Что сделать")
SRE_WORDS = ("turn", "SLA", "confidence", "replay", "journal", "conversation", "botwatch report")


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "journal.sqlite"
    mp = pytest.MonkeyPatch()
    mp.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    mp.setenv("BOTWATCH_SECRET", "report-test-secret-0123456789")
    try:
        assert (
            main(["demo", "-n", "80", "--seed", "4", "--faults", "crm_errors=0.5,slow_llm=0.3", "--journal", str(path)])
            == 0
        )
    finally:
        mp.undo()
    return path


def write_report(journal: Path, out: Path, *extra: str) -> str:
    assert main(["report", "--out", str(out), "--journal", str(journal), *extra]) == 0
    return out.read_text()


@pytest.fixture(scope="module")
def page(journal, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("html") / "report.html"
    return out, write_report(journal, out)


def kpi_json(journal: Path, since: str, until: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "botwatch.cli", "kpi", "--json", "--since", since, "--until", until],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BOTWATCH_JOURNAL": str(journal)},
    )
    return json.loads(out.stdout)


def assert_equal_to_kpi(shown: dict[str, list[str]], kpi: dict[str, object]) -> int:
    checked = 0
    for key, texts in shown.items():
        expected = kpi[key]
        for text in texts:
            value = as_number(text)
            if expected is None or value is None:
                assert value is expected is None, (key, text, expected)
            elif "%" in text:
                assert round(float(expected) * 100, 1) == pytest.approx(value * 100), (key, text, expected)  # type: ignore[arg-type]
            else:
                assert value == expected, (key, text, expected)
            checked += 1
    return checked


def test_every_number_on_the_page_equals_kpi_json(page, journal):
    _, html = page
    numbers = parse(html)
    since, until = numbers.body["data-since"], numbers.body["data-until"]
    current = kpi_json(journal, since, until)
    assert current["conversations"] > 0 and current["demo_runs"] == [4]
    keys = {
        "conversations",
        "conversion",
        "conversations_booked",
        "closed_without_human",
        "conversations_escalated",
        "no_show_rate",
        "no_shows",
        "sla_breach_share",
        "turns_over_sla",
        "turns",
        "low_confidence_share",
        "lead_failure_rate",
        "lead_create_failures",
        "lead_creates",
        "rescheduled",
        "complaints",
        "appointments",
        "conversations_without_human",
        "low_confidence_threshold",
    }
    assert keys <= set(numbers.current), keys - set(numbers.current)
    assert assert_equal_to_kpi(numbers.current, current) >= len(keys)
    # No other number in the line under each value: every one of them is a kpi --json number.
    for line in re.findall(r'<p class="detail">(.*?)</p>', html.split('<section id="losses">')[0]):
        if "<b data-kpi" in line:
            assert not re.search(r"\d", re.sub(r'<b data-kpi="\w+">[^<]*</b>', "", line)), line
    # The previous week is the same number of whole days just before; its numbers are kpi --json's too.
    start = datetime.fromisoformat(since)
    previous = kpi_json(journal, (start - timedelta(days=7)).isoformat(), since)
    assert_equal_to_kpi(numbers.previous, previous)
    # One "no data" rule: a card compares with the previous week, or says there is no data for it.
    changes = re.findall(r'<p class="change [a-z]+">(.*?)</p>', html)
    assert len(changes) == 7
    for change in changes:
        if previous["conversations"] == 0:
            assert change == "нет данных за прошлую неделю"
        else:
            assert "data-kpi-previous" in change or change == "нет данных за прошлую неделю", change


def test_report_speaks_russian_in_owner_words(page, journal, tmp_path):
    _, html = page
    numbers = parse(html)
    text = " ".join(numbers.text)
    for words in OWNER_WORDS_RU:
        assert words in text, words
    for word in SRE_WORDS:
        assert word.lower() not in text.lower(), word
    assert str(journal) not in html and "journal.sqlite" not in html
    letters = re.findall(r"[A-Za-zА-Яа-яЁё]", text)
    cyrillic = sum(1 for c in letters if re.match(r"[А-Яа-яЁё]", c))
    assert cyrillic / len(letters) > 0.9, cyrillic / len(letters)  # service names and "CRM" are the rest
    assert '<html lang="ru">' in html
    english = write_report(journal, tmp_path / "en.html", "--lang", "en")
    assert '<html lang="en">' in english and "Bookings" in english and "Записи" not in english


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> str:
    """The report of a run with the simulator's planted problem: price questions in variant B break."""
    directory = tmp_path_factory.mktemp("planted")
    mp = pytest.MonkeyPatch()
    mp.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    mp.setenv("BOTWATCH_SECRET", "report-test-secret-0123456789")
    try:
        argv = ["demo", "-n", "800", "--seed", "21", "--faults", "broken_price=0.9", "--journal"]
        assert main([*argv, str(directory / "journal.sqlite")]) == 0
    finally:
        mp.undo()
    return write_report(directory / "journal.sqlite", directory / "report.html")


def test_where_clients_are_lost_names_the_planted_step_with_a_masked_dialogue(planted):
    losses = planted.split('<section id="losses">')[1].split("</section>")[0]
    findings = re.findall(r'<div class="finding"><h3 class="bad">(.*?)</h3>', losses)
    assert 1 <= len(findings) <= 3
    assert "вопрос о цене" in findings[0] and "вариант сценария B" in findings[0], findings
    dialogue = losses.split('<div class="dialogue">')[1].split("</div>")[0]
    assert "<b>Клиент:</b>" in dialogue and "<b>Бот:</b>" in dialogue
    assert not re.search(r"\d[\d ()-]{8,}\d", dialogue)  # no phone number in the example
    todo = planted.split('<section id="todo">')[1]
    assert "Разберите сценарий: вопрос о цене, вариант сценария B" in todo.split("</li>")[0]


def test_a_model_switch_that_cost_bookings_is_reported_with_a_rollback_line(tmp_path):
    switch = simulate_switch(tmp_path / "switch.sqlite", 0.41, 0.33, seed=5)
    html = write_report(tmp_path / "switch.sqlite", tmp_path / "switch.html", "--since", "28d")
    changes = html.split('<section id="changes">')[1].split("</section>")[0]
    [line] = re.findall(r'<li class="bad">(.*?)</li>', changes)
    assert "После перехода на модель yandexgpt-lite" in line and "конверсия упала" in line, line
    from botwatch.integrations.business_settings import business_timezone

    assert f"{switch.astimezone(business_timezone('Europe/Moscow')).day} " in line  # the switch's date, in Moscow
    first = html.split('<section id="todo">')[1].split("</li>")[0]
    assert "Верните прежнюю модель (gpt-4o-mini)" in first  # the rollback comes first


def test_bars_are_calendar_days_ending_today_with_a_target_line(page):
    from botwatch.audit.report import week_bounds
    from botwatch.integrations.business_settings import business_timezone

    moscow = business_timezone("Europe/Moscow")
    until = datetime.fromisoformat("2026-12-06T22:30:00+00:00")  # 01:30 on 7 December in Moscow
    since, days = week_bounds(timedelta(days=7), until, moscow)
    assert days[-1].isoformat() == "2026-12-07" and len(days) == 7  # a bar for today, Moscow's today
    assert since.isoformat() == "2026-11-30T21:00:00+00:00"  # 1 December, 00:00 Moscow
    _, html = page
    assert html.count("<img") == 3  # conversations and bookings; slow replies and not understood, with targets
    assert "цель — не больше 5,0" in html or "хуже цели (не больше 5,0" in html


def test_chart_draws_the_target_line_and_marks_bars_over_it():
    import base64
    import io

    from PIL import Image

    from botwatch.audit import charts

    png = charts.share_chart(["a", "b", "c"], [0.02, 0.5, None], 0.05, "цель")
    with Image.open(io.BytesIO(base64.b64decode(png))) as image:
        colors = {rgb: n for n, rgb in image.convert("RGB").getcolors(1_000_000) or []}
    red, blue = (0xC0, 0x39, 0x2B), (0x3B, 0x73, 0xB9)
    assert colors.get(red, 0) > 5000 and colors.get(blue, 0) > 200  # the 50 % bar is red, the 2 % bar blue


def _chromium(tmp_path: Path) -> list[str]:
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]


# Headless Chromium lays a window out at least 500 px wide (--window-size=360 only crops the picture), so
# the report is shown in a 360 px wide iframe, as a phone's viewport. The script in the report measures its
# own document after load — scroll width, client width, the widest element's right edge — and writes it into
# the outer page, which --dump-dom prints.
MEASURE = """<script>addEventListener("load", () => {
  let right = 0, widest = "";
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect().right;
    if (r > right) { right = r; widest = el.tagName + "." + el.className; }
  }
  const out = parent.document.createElement("pre"); out.id = "measured";
  out.textContent = JSON.stringify({scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth, inner: innerWidth, right: Math.ceil(right), widest});
  parent.document.body.appendChild(out);
});</script>"""


def phone_frame(width: int, height: int, *, src: str = "", srcdoc: str = "") -> str:
    inner = f'srcdoc="{escape(srcdoc)}"' if srcdoc else f'src="{src}"'
    return (
        '<!doctype html><html><body style="margin:0">'
        f'<iframe style="width:{width}px;height:{height}px;border:0;display:block" {inner}></iframe></body></html>'
    )


def measure(flags: list[str], html: str, path: Path, width: int) -> dict[str, object]:
    path.write_text(phone_frame(width, 2000, srcdoc=html.replace("</body>", MEASURE + "</body>")))
    dom = subprocess.run(
        [*flags, "--window-size=1000,2000", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    return json.loads(found[1].replace("&quot;", '"'))


def test_chromium_phone_width_has_no_horizontal_scroll(page, planted, tmp_path):
    flags = _chromium(tmp_path)
    _, html = page
    for name, shown in (("week", html), ("with problems and dialogues", planted)):
        phone = measure(flags, shown, tmp_path / "phone.html", 360)
        assert phone["inner"] == 360, (name, phone)  # the report was laid out 360 px wide
        assert phone["scroll"] <= phone["client"] and phone["right"] <= phone["client"], (name, phone)
    # The same measurement sees a page that does overflow (a 700 px wide block): the check can fail.
    wide = html.replace("</header>", '</header><div style="width:700px">x</div>', 1)
    overflowing = measure(flags, wide, tmp_path / "wide.html", 360)
    assert overflowing["scroll"] > overflowing["client"], overflowing


def screenshot(flags: list[str], report: Path, png: Path, width: int, height: int) -> None:
    """The report at ``width`` px: a phone width inside a frame of that width (see MEASURE), else the window."""
    target = report
    if width < 500:
        target = png.with_suffix(".frame.html")
        target.write_text(phone_frame(width, height, src=report.as_uri()))
    subprocess.run(
        [*flags, f"--screenshot={png}", f"--window-size={width},{height}", target.as_uri()],
        capture_output=True,
        timeout=90,
        check=True,
    )


@pytest.mark.parametrize("width", [360, 1200])
def test_chromium_screenshots_show_text_and_bars(page, tmp_path, width):
    from PIL import Image

    flags = _chromium(tmp_path)
    path, _ = page
    png = tmp_path / f"report-{width}.png"
    screenshot(flags, path, png, width, 2400)
    with Image.open(png) as image:
        assert image.size == (width, 2400)
        colors = {rgb: n for n, rgb in image.convert("RGB").getcolors(maxcolors=1_000_000) or []}
    assert len(colors) > 50  # text, bars and axes, not a blank page
    assert colors.get((0x3B, 0x73, 0xB9), 0) > 800  # the booking bars were drawn
    assert colors.get((0xC0, 0x39, 0x2B), 0) > 800  # slow-reply bars over the target, and the red words


def test_progress_on_a_terminal_and_none_in_a_file(journal, tmp_path):
    import pty

    controller, terminal = pty.openpty()
    argv = [sys.executable, "-m", "botwatch.cli", "report", "--journal", str(journal)]
    done = subprocess.run(
        [*argv, "--out", str(tmp_path / "a.html")], stderr=terminal, stdout=subprocess.PIPE, timeout=120
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal's other side is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert done.returncode == 0
    steps = shown.decode()
    for step in ("report: week…", "report: day 1/7…", "report: day 7/7…", "report: where clients are lost…"):
        assert step in steps, steps
    quiet = subprocess.run([*argv, "--out", str(tmp_path / "b.html")], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.fixture
def telegram_env(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    monkeypatch.setenv("BOTWATCH_TELEGRAM_TOKEN_FILE", str(token))
    monkeypatch.setenv("BOTWATCH_TELEGRAM_CHAT_ID", "-1001234567890")
    return monkeypatch


def test_telegram_gets_a_russian_summary_and_the_report_file(journal, tmp_path, telegram_env, capsys):
    api = BotAPI()  # refuses HTML Telegram would refuse, and text over 4096 characters
    telegram_env.setenv("BOTWATCH_TELEGRAM_API_URL", api.url)
    try:
        out = tmp_path / "weekly.html"
        assert main(["report", "--out", str(out), "--telegram", "--journal", str(journal)]) == 0
    finally:
        api.close()
    assert [(c.method, c.status) for c in api.calls] == [("sendMessage", 200), ("sendDocument", 200)]
    message, document = (c.params for c in api.calls)
    assert message["parse_mode"] == "HTML" and message["chat_id"] == "-1001234567890"
    text = plain(message["text"], "HTML")
    assert len(text) < 4096 and "Бот за неделю" in text and "Записи:" in text and "Что сделать" in text
    numbers = parse(out.read_text())
    assert numbers.current["conversion"][0] in text  # the same headline number as the page
    assert document["document"].filename == "weekly.html" and document["document"].content == out.read_bytes()
    printed = capsys.readouterr().out
    assert TOKEN not in printed
    assert "отчёт записан: " in printed and "отправлен в Telegram, чат -1001234567890" in printed  # in Russian


def test_telegram_refusal_and_missing_setup_are_clear(journal, tmp_path, telegram_env, capsys):
    api = BotAPI()
    api.fail_next(400, method="sendMessage")  # "Bad Request: chat not found"
    telegram_env.setenv("BOTWATCH_TELEGRAM_API_URL", api.url)
    try:
        assert main(["report", "--out", str(tmp_path / "r.html"), "--telegram", "--journal", str(journal)]) == 3
    finally:
        api.close()
    assert [(call.method, call.status) for call in api.calls] == [("sendMessage", 400)]
    err = capsys.readouterr().err
    assert "refused the summary (HTTP 400: Bad Request: chat not found)" in err and TOKEN not in err
    assert (tmp_path / "r.html").exists()  # the file is written before sending: nothing is lost
    telegram_env.setenv("BOTWATCH_TELEGRAM_API_URL", "http://127.0.0.1:9")  # nothing listens
    assert main(["report", "--out", str(tmp_path / "r.html"), "--telegram", "--journal", str(journal)]) == 3
    assert "is not reachable" in capsys.readouterr().err
    telegram_env.delenv("BOTWATCH_TELEGRAM_CHAT_ID")
    assert main(["report", "--telegram", "--journal", str(journal)]) == 2
    assert "BOTWATCH_TELEGRAM_CHAT_ID" in capsys.readouterr().err


def test_empty_week_writes_no_report(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    connect(empty, create=True).close()
    out = tmp_path / "none.html"
    assert main(["report", "--out", str(out), "--journal", str(empty)]) == 1
    assert not out.exists() and "nothing recorded in the last 7 days" in capsys.readouterr().err


def test_bad_time_zone_is_a_usage_error(journal, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOTWATCH_TIMEZONE", "Mars/Olympus")
    assert main(["report", "--out", str(tmp_path / "r.html"), "--journal", str(journal)]) == 2
    err = capsys.readouterr().err
    assert "BOTWATCH_TIMEZONE='Mars/Olympus'" in err and "IANA time zone" in err and not (tmp_path / "r.html").exists()


def test_telegram_summary_names_the_problem_steps_in_plain_words(journal):
    """The top 1–3 steps of insights, one line each, in the owner's words; Telegram accepts it even when long."""
    import dataclasses
    from datetime import UTC

    from botwatch.audit.journal_source import JournalSource
    from botwatch.audit.report import collect
    from botwatch.audit.report_summary import summary
    from botwatch.audit.telegram_sender import TelegramTarget, send_message
    from botwatch.journal.insights import NOW, Finding

    source = JournalSource(journal)
    try:
        data = collect(source, timedelta(days=7), UTC)
    finally:
        source.close()

    def finding(step: str, segment: str, lost: int, reached: int) -> Finding:
        return Finding(step, segment, reached, lost, 200, 40, 0.001, {"left": lost}, ("demo-4-1",))

    findings = [
        finding("intent=price", "variant=B", 31, 50),
        finding("turn=6", NOW, 12, 30),
        finding("handler=vip_upsell", "channel=telegram", 9, 20),
        finding("intent=complaint", "variant=A", 5, 20),  # a fourth: not in the message
    ]
    text = plain(summary(dataclasses.replace(data, findings=findings), "ru"), "HTML")
    lines = text.splitlines()
    at = lines.index("Где теряются клиенты")
    assert lines[at + 1 : at + 4] == [
        "1. Вопрос о цене (вариант сценария B): теряется 62,0\u00a0% клиентов, в остальных случаях 20,0\u00a0%",
        "2. Сообщение №6 в диалоге: теряется 40,0\u00a0% клиентов, в прошлые недели 20,0\u00a0%",
        "3. Шаг «vip_upsell» (канал telegram): теряется 45,0\u00a0% клиентов, в остальных случаях 20,0\u00a0%",
    ]
    assert lines[at + 4] == "" and "жалоба" not in text.lower() and "intent=" not in text
    english = plain(summary(dataclasses.replace(data, findings=findings[:1]), "en"), "HTML")
    section = english.split("Where clients are lost\n")[1].split("\n\n")[0]
    assert section == "1. Price question (scenario variant B): 62.0 % of clients lost against 20.0 % elsewhere".replace(
        " %", "\u00a0%"
    )
    assert "Где теряются" not in plain(summary(dataclasses.replace(data, findings=[]), "ru"), "HTML")

    # Steps with very long names: lines are dropped, never the message; Telegram takes what is sent.
    huge = [finding("handler=" + "x" * 1500 + str(n), "variant=B", 30, 50) for n in range(3)]
    long_text = summary(dataclasses.replace(data, findings=huge), "ru")
    api = BotAPI()
    try:
        send_message(TelegramTarget(api.url, TOKEN, "-1001234567890"), long_text)
    finally:
        api.close()
    assert [c.status for c in api.calls] == [200]
    shown = plain(long_text, "HTML")
    assert len(shown) <= 4096 and "1. Шаг «xxx" in shown and "3. Шаг" not in shown
