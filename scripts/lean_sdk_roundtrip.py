"""With the core install only: one SDK conversation over OTLP/HTTP into a journal, one straight into the journal.

The OTLP one goes through botwatch's own exporter (botwatch.otlp_http) to the
journal's OTLP receiver (botwatch.journal.receiver) on a free local port; the
other one through the journal exporters.  Each journal must then hold the
conversation's turn span and its log records.  Prints one line per path;
exits 1 when one is missing.  Run by scripts/lean-install-check.sh in a fresh
venv and by tests/tooling/test_lean_install.py with every extra made unimportable.

    python scripts/lean_sdk_roundtrip.py WORKDIR
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import botwatch
from botwatch.journal.receiver import serve


def conversation(conversation_id: str) -> None:
    with botwatch.conversation(conversation_id, channel="telegram") as conv:
        with conv.turn("Хочу записаться на стрижку") as turn:
            turn.intent("booking", confidence=0.9)
            turn.reply("Записала вас на завтра, 12:00")


def recorded(path: Path) -> tuple[int, int]:
    """(turn spans, log records) in the journal at ``path``."""
    with sqlite3.connect(path) as db:
        turns = db.execute("SELECT count(*) FROM spans WHERE family = 'turn'").fetchone()[0]
        logs = db.execute("SELECT count(*) FROM logs").fetchone()[0]
    return int(turns), int(logs)


def over_otlp(work: Path) -> tuple[int, int]:
    journal = work / "otlp.sqlite"
    servers: list[Any] = []
    ready = threading.Event()
    thread = threading.Thread(
        target=serve, args=(0, journal), kwargs={"ready": lambda s: (servers.append(s), ready.set())}, daemon=True
    )
    thread.start()
    if not ready.wait(30):
        raise SystemExit("lean sdk: the journal receiver did not start")
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{servers[0].server_address[1]}"
    try:
        botwatch.init(service_name="lean-bot")
        conversation("lean-otlp-1")
        botwatch.shutdown()
    finally:
        del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
        servers[0].shutdown()
        thread.join(30)
    return recorded(journal)


def into_journal(work: Path) -> tuple[int, int]:
    journal = work / "direct.sqlite"
    os.environ["BOTWATCH_JOURNAL"] = str(journal)
    botwatch.init(service_name="lean-bot")
    conversation("lean-journal-1")
    botwatch.shutdown()
    return recorded(journal)


def main(work: Path) -> int:
    os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    failed = False
    for name, run in (("over OTLP/HTTP into the journal receiver", over_otlp), ("into the journal", into_journal)):
        turns, logs = run(work)
        ok = turns == 1 and logs >= 1
        failed |= not ok
        print(f"lean sdk: {'ok' if ok else 'FAILED'}: a conversation {name}: {turns} turn span, {logs} log records")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
