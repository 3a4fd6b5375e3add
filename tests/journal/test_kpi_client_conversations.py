"""A conversation is an обращение once the client wrote in it: chats the bot only sends to are not counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sdk_journal import sdk_journal

import botwatch
from botwatch.journal import Journal

SECRET = "kpi-clients-secret-0123456789"


def test_a_chat_the_bot_only_sends_to_is_not_a_conversation(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with sdk_journal(path, "kpi-clients-bot", SECRET):
        with botwatch.conversation("client-chat", channel="telegram") as conv:
            with conv.turn("Хочу записаться") as turn:
                turn.intent("booking", confidence=0.9)
                turn.reply("Записала на 15:00")
            conv.funnel("booking_created")
        with botwatch.conversation("admin-chat", channel="telegram") as conv:  # notifications only
            with conv.send("Новая запись: 15:00", kind="notification"):
                pass
    now = datetime.now(UTC)
    with Journal(path) as journal:
        kpi = journal.kpi(timedelta(hours=1), now + timedelta(minutes=1))
        facts = journal.facts(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert (kpi.conversations, kpi.conversations_booked) == (1, 1)
    assert kpi.conversion == 1.0  # the admin chat does not halve it
    assert [f.conversation_id for f in facts] == ["client-chat"]
