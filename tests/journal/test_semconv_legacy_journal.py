"""A journal written before the ``botwatch.`` event prefix reads exactly like one written now.

The demo runs into a journal; then its log records are given the old bare
names (``message.received``, ``funnel.paid`` ...), as a journal of an older
botwatch holds them, and replay, the low-confidence list and export must
show the same as before the rename.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import botwatch
from botwatch import semconv
from botwatch.audit.export import EventRows
from botwatch.demo.faults import parse_faults
from botwatch.demo.runner import run_demo
from botwatch.journal import Journal
from botwatch.journal.format import format_replay

SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def _views(path: Path) -> dict[str, Any]:
    until = datetime.now(UTC) + timedelta(days=1)
    with Journal(path) as journal:
        ids = sorted(journal.conversation_ids(SINCE, until))
        return {
            "replay": [format_replay(journal.replay(cid)) for cid in ids],
            "low": journal.low_confidence_turns(SINCE, until),
            "events": sorted({line.event_name or "" for line in journal.log_lines(SINCE, until)}),
            "rows": list(EventRows(journal.log_lines(SINCE, until), journal.client_phone)),
        }


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    path = tmp_path / "journal.sqlite"
    botwatch.init(service_name="legacy-bot", journal=str(path), secret="legacy-test-secret-0123456789abcdef")
    try:
        run_demo(30, None, parse_faults("low_confidence=0.3,crm_errors=0.3"), 5)
    finally:
        botwatch.shutdown()
    return path


def test_old_event_names_read_as_the_new_ones(journal: Path) -> None:
    now = _views(journal)
    assert semconv.EVENT_MESSAGE_RECEIVED in now["events"] and semconv.EVENT_CRM_ACTION in now["events"]
    assert now["low"] and all(turn.text for turn in now["low"])  # the client's message joined by its event name
    assert any(row.get("funnel_stage") for row in now["rows"]) and any(row.get("bot_response") for row in now["rows"])

    with sqlite3.connect(journal) as conn:
        renamed = conn.execute(
            "UPDATE logs SET event_name = substr(event_name, ?) WHERE event_name LIKE 'botwatch.%'",
            (len("botwatch.") + 1,),
        ).rowcount
        old_names = {row[0] for row in conn.execute("SELECT DISTINCT event_name FROM logs")}
    assert renamed > 100 and {"message.received", "bot.replied", "crm.action", "funnel.lead_created"} <= old_names

    assert _views(journal) == now
