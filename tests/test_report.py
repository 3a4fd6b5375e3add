"""``botwatch report``: HTML with charts and ``kpi``'s numbers, rendered by headless Chromium, sent to Telegram."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from telegram_api import TOKEN, BotAPI

from botwatch.cli import main
from botwatch.journal import Journal, format_kpi_table
from botwatch.journal.format import format_count, format_percent


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "journal.sqlite"
    mp = pytest.MonkeyPatch()
    mp.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    mp.setenv("BOTWATCH_SECRET", "report-test-secret-0123456789")
    try:
        assert (
            main(["demo", "-n", "60", "--seed", "4", "--faults", "crm_errors=0.5,slow_llm=0.3", "--journal", str(path)])
            == 0
        )
    finally:
        mp.undo()
    return path


@pytest.fixture(scope="module")
def report(journal, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("html") / "report.html"
    # The demo back-dates its conversations over the last 7 days; an 8-day window keeps the
    # oldest inside while the report, `kpi` and the checks below each take "now".
    assert main(["report", "--since", "8d", "--out", str(out), "--journal", str(journal)]) == 0
    kpi_out = subprocess.run(
        [sys.executable, "-m", "botwatch.cli", "kpi", "--since", "8d", "--journal", str(journal)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BOTWATCH_SOURCE": "journal"},
    )
    return out, kpi_out.stdout


def test_report_has_a_chart_per_kpi_and_the_kpi_numbers(report, journal):
    path, _ = report
    page = path.read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 6  # five KPIs + problem conversations
    with Journal(journal) as j:
        from datetime import UTC, datetime, timedelta

        kpi = j.kpi(timedelta(days=8), datetime.now(UTC))
    assert format_percent(kpi.conversion) in page
    assert f"{format_count(kpi.conversations_booked)} of {format_count(kpi.conversations)} conversations" in page
    assert format_percent(kpi.no_show_rate) in page and format_percent(kpi.sla_breach_share) in page
    assert f"{format_count(kpi.lead_create_failures)}</span>" in page
    assert format_kpi_table(kpi).splitlines()[2].split()[-1] in page
    assert 'id="problems"' in page and "<td>demo-4-" in page


def test_chromium_renders_the_report_with_charts_and_kpi_numbers(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    path, kpi_text = report
    flags = [
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
    png = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={png}", "--window-size=1200,2000", path.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    dom = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (1200, 2000)
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colors) > 50  # text, bars and axes, not a blank page
        bar_blue = sum(n for n, rgb in colors if rgb == (0x3B, 0x73, 0xB9))
        assert bar_blue > 5000  # the charts' bars were drawn
    # The numbers `botwatch kpi` prints for the same data are on the rendered page.
    rows = {line[:40].strip(): line[40:].split() for line in kpi_text.splitlines()[2:] if line.strip()}
    for label in ("Conversion chat → booking", "No-show rate", "Turns over 3 s", "Intents below 0.6 confidence"):
        value = " ".join(rows[label][:2])
        assert value in dom, (label, value)
    assert f'<span class="value">{rows["Lead creation failures"][0]}</span>' in dom
    assert dom.count("<img") == 6


@pytest.fixture
def telegram_env(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    monkeypatch.setenv("BOTWATCH_TELEGRAM_TOKEN_FILE", str(token))
    monkeypatch.setenv("BOTWATCH_TELEGRAM_CHAT_ID", "-1001234567890")
    return monkeypatch


def test_report_is_sent_with_send_document(journal, tmp_path, telegram_env, capsys):
    api = BotAPI()
    telegram_env.setenv("BOTWATCH_TELEGRAM_API_URL", api.url)
    try:
        out = tmp_path / "weekly.html"
        assert main(["report", "--out", str(out), "--telegram", "--journal", str(journal)]) == 0
    finally:
        api.close()
    [call] = api.calls  # one sendDocument, with the token from the file (another would get 401)
    assert call.method == "sendDocument" and call.status == 200
    sent = call.params
    assert sent["chat_id"] == "-1001234567890" and sent["document"].filename == "weekly.html"
    assert sent["document"].content == out.read_bytes() and "botwatch report" in sent["caption"]
    assert TOKEN not in capsys.readouterr().out


def test_telegram_refusal_and_missing_setup_are_clear(journal, tmp_path, telegram_env, capsys):
    api = BotAPI()
    api.fail_next(400, method="sendDocument")  # "Bad Request: chat not found"
    telegram_env.setenv("BOTWATCH_TELEGRAM_API_URL", api.url)
    try:
        assert main(["report", "--out", str(tmp_path / "r.html"), "--telegram", "--journal", str(journal)]) == 3
    finally:
        api.close()
    assert [(call.method, call.status) for call in api.calls] == [("sendDocument", 400)]
    err = capsys.readouterr().err
    assert "refused the report (HTTP 400: Bad Request: chat not found)" in err and TOKEN not in err
    telegram_env.setenv("BOTWATCH_TELEGRAM_API_URL", "http://127.0.0.1:9")  # nothing listens
    assert main(["report", "--out", str(tmp_path / "r.html"), "--telegram", "--journal", str(journal)]) == 3
    assert "is not reachable" in capsys.readouterr().err
    telegram_env.delenv("BOTWATCH_TELEGRAM_CHAT_ID")
    assert main(["report", "--telegram", "--journal", str(journal)]) == 2
    assert "BOTWATCH_TELEGRAM_CHAT_ID" in capsys.readouterr().err


def test_empty_period_writes_no_report(journal, tmp_path, capsys):
    out = tmp_path / "none.html"
    assert main(["report", "--since", "1s", "--out", str(out), "--journal", str(journal)]) == 1
    assert not out.exists() and "nothing recorded in the last 1 seconds" in capsys.readouterr().err
