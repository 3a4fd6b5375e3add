"""``botwatch replay``: Russian labels by default, times in the business's zone (Europe/Moscow by default).

A real conversation is recorded by the SDK into a journal of the test's own; the CLI prints it as the
owner reads it, and as an engineer asks for it (``--lang en --tz UTC``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sdk_journal import sdk_journal

import botwatch
from botwatch import semconv
from botwatch.cli import main
from botwatch.journal import Journal

SECRET = "replay-language-secret-0123456789"
CONVERSATION = "replay-lang-1"


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay-lang") / "journal.sqlite"
    with sdk_journal(path, "replay-lang-bot", SECRET):
        with botwatch.conversation(CONVERSATION, channel="telegram") as conv:
            with conv.turn("Сколько стоит маникюр?") as turn:
                turn.intent("price", confidence=0.4)
                turn.reply("1500 ₽")
            with conv.turn("Запишите меня на завтра") as turn:
                turn.intent("booking", confidence=0.93)
                turn.funnel(semconv.BOOKING_CREATED)
                turn.reply("Записал на 15:00")
            with conv.send("Напоминаем: завтра в 15:00"):
                pass
    return path


def started(path: Path) -> datetime:
    with Journal(path) as journal:
        return journal.replay(CONVERSATION)[0].time


def replay(capsys: pytest.CaptureFixture[str], journal: Path, *args: str) -> tuple[int, str, str]:
    code = main(["replay", CONVERSATION, "--journal", str(journal), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_russian_labels_and_moscow_time_by_default(journal, capsys, monkeypatch):
    monkeypatch.delenv("BOTWATCH_TIMEZONE", raising=False)
    monkeypatch.delenv("BOTWATCH_LANG", raising=False)
    code, out, _ = replay(capsys, journal)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"Разговор {CONVERSATION} · telegram"
    moscow = started(journal).astimezone(ZoneInfo("Europe/Moscow"))
    assert lines[1].endswith("(MSK)") and lines[1].startswith(str(moscow.day)), lines[1]
    assert f"  {moscow:%H:%M:%S}." in lines[2], (lines[2], moscow)
    assert "клиент «Сколько стоит маникюр?»" in " ".join(out.split())
    assert "тема    вопрос о цене · уверенность 0,40 — бот не понял клиента" in out
    assert "тема    запись · уверенность 0,93" in out
    assert "этап    ▸ запись создана" in out
    assert "бот     [напоминание] «Напоминаем: завтра в 15:00»" in out
    assert "ответ на сообщение 1 за " in out
    for english in ("client", "intent", "funnel", "booking_created", "price", "turn 1 in", "reminder"):
        assert english not in out, english


def test_english_and_utc_on_request(journal, capsys, monkeypatch):
    code, out, _ = replay(capsys, journal, "--lang", "en", "--tz", "UTC")
    assert code == 0
    lines = out.splitlines()
    utc = started(journal).astimezone(UTC)
    assert lines[0] == f"Conversation {CONVERSATION} · telegram"
    assert lines[1] == f"{utc:%Y-%m-%d} (UTC)"
    assert f"  {utc:%H:%M:%S}." in lines[2]
    assert "intent  price 0.40 (low)" in out and "funnel  ▸ booking_created" in out
    monkeypatch.setenv("BOTWATCH_LANG", "en")
    monkeypatch.setenv("BOTWATCH_TIMEZONE", "Asia/Yekaterinburg")
    code, out, _ = replay(capsys, journal)
    yekaterinburg = started(journal).astimezone(ZoneInfo("Asia/Yekaterinburg"))
    assert out.splitlines()[1] == f"{yekaterinburg:%Y-%m-%d} (+05)", out.splitlines()[1]
    assert f"  {yekaterinburg:%H:%M:%S}." in out.splitlines()[2]


def test_token_counts_agree_with_their_number():
    from botwatch.journal.format import _tokens_word

    assert [_tokens_word(n) for n in (1, 21, 24, 11, 12, 25, 101, 111)] == [
        "токен",
        "токен",
        "токена",
        "токенов",
        "токенов",
        "токенов",
        "токен",
        "токенов",
    ]


def test_an_unknown_zone_is_a_usage_error(journal, capsys):
    code, out, err = replay(capsys, journal, "--tz", "Mars/Olympus")
    assert code == 2 and out == ""
    assert "--tz 'Mars/Olympus' is not a time zone" in err
