"""Audit commands on the embedded journal: sessions, replay, export, sample, weekly, label, and bad input."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from botwatch import semconv
from botwatch.audit.export import FIELDS
from botwatch.cli import main

FAULTS = "low_confidence=0.3,crm_errors=0.4,slow_llm=0.3"


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "journal.sqlite"
    mp = pytest.MonkeyPatch()
    mp.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    mp.setenv("BOTWATCH_SECRET", "audit-test-secret-0123456789")
    try:
        assert main(["demo", "-n", "80", "--seed", "3", "--faults", FAULTS, "--journal", str(path)]) == 0
    finally:
        mp.undo()
    return path


@pytest.fixture
def cli(journal, capsys, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("BOTWATCH_SOURCE", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET", "audit-test-secret-0123456789")

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--journal", str(journal)])
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        return code, out.out, out.err

    return run


def db(journal: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{journal}?mode=ro", uri=True)


def sessions_json(cli, *args: str) -> list[dict]:
    code, out, err = cli("sessions", "--json", "--limit", "500", *args)
    assert code in (0, 1), err
    return [json.loads(line) for line in out.splitlines()]


def test_sessions_are_newest_first_and_paged(cli, journal):
    everything = sessions_json(cli)
    assert len(everything) == 80
    starts = [s["started_ns"] for s in everything]
    assert starts == sorted(starts, reverse=True)
    code, out, _ = cli("sessions", "--limit", "5", "--page", "2")
    assert code == 0 and "page 2 · next: add --page 3" in out
    assert [line.split()[2] for line in out.splitlines()[1:6]] == [s["conversation_id"] for s in everything[5:10]]


def test_every_filter_matches_the_journal(cli, journal):
    conn = db(journal)

    def ids(sql: str, *params: object) -> set[str]:
        return {row[0] for row in conn.execute(sql, params)}

    low = ids("SELECT conversation_id FROM spans WHERE family='turn' AND confidence < ?", semconv.LOW_CONFIDENCE)
    slow = ids("SELECT conversation_id FROM spans WHERE family='turn' AND sla_breached = 1")
    crm = ids("SELECT conversation_id FROM spans WHERE family='crm' AND crm_outcome='error'")
    whatsapp = ids("SELECT conversation_id FROM spans WHERE family='conversation' AND channel='whatsapp'")
    booking = ids("SELECT conversation_id FROM spans WHERE family='turn' AND intent='booking'")
    variant_b = ids(
        "SELECT conversation_id FROM spans WHERE family='conversation' AND json_extract(attributes, ?) = 'B'",
        f'$."{semconv.SCENARIO_VARIANT}"',
    )
    assert low and slow and crm and whatsapp and booking and variant_b
    found = lambda *a: {s["conversation_id"] for s in sessions_json(cli, *a)}  # noqa: E731
    assert found("--low-confidence") == low
    assert found("--sla-breached") == slow
    assert found("--crm-failed") == crm
    assert found("--channel", "whatsapp") == whatsapp
    assert found("--intent", "booking") == booking
    assert found("--variant", "B") == variant_b
    assert found("--channel", "whatsapp", "--low-confidence", "--crm-failed") == whatsapp & low & crm
    one = sessions_json(cli, "--crm-failed")[0]
    assert one["crm_failures"] >= 1


def test_replay_with_source_journal_is_the_journal_replay(cli):
    cid = sessions_json(cli)[0]["conversation_id"]
    code, plain, _ = cli("replay", cid, "--lang=en")
    assert code == 0
    code, explicit, _ = cli("replay", cid, "--lang=en", "--source", "journal")
    assert code == 0 and explicit == plain and f"Conversation {cid}" in plain


def test_export_jsonl_and_csv_are_the_gateway_event_shape(cli, journal, tmp_path):
    out = tmp_path / "events.jsonl"
    code, _, err = cli("export", "--since", "8d", "--format", "jsonl", "--out", str(out))
    assert code == 0 and "records" in err and "rows" in err  # the progress bar, on stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    turns = [r for r in rows if "turn_index" in r and "funnel_stage" not in r]
    n_turns = db(journal).execute("SELECT COUNT(*) FROM spans WHERE family='turn'").fetchone()[0]
    assert len(turns) == n_turns
    assert all(r["event_id"] and r["timestamp"] and r["session_id"] and r["channel"] for r in rows)
    assert any(r.get("bot_response") and r.get("text") and "confidence" in r for r in turns)
    assert any(r.get("crm_error") for r in turns) and any(r.get("action") == "create_lead" for r in turns)
    assert any(r.get("direction") == "outbound" for r in rows)
    phones = [r["client"]["phone"] for r in rows if "client" in r]
    assert phones and all("***" in p for p in phones)
    assert len({r["event_id"] for r in rows}) == len(rows)
    csv_out = tmp_path / "events.csv"
    assert cli("export", "--since", "8d", "--out", str(csv_out), "--quiet")[0] == 0
    table = list(csv.DictReader(io.StringIO(csv_out.read_text(encoding="utf-8-sig"), newline=""), delimiter=";"))
    assert tuple(table[0]) == FIELDS and len(table) == len(rows)


def test_sample_is_reproducible_and_weekly_lists_low_confidence(cli):
    code, first, _ = cli("audit", "sample", "--n", "5", "--since", "30d", "--seed", "9", "--json")
    assert code == 0 and len(first.splitlines()) == 5
    assert cli("audit", "sample", "--n", "5", "--since", "30d", "--seed", "9", "--json")[1] == first
    assert cli("audit", "sample", "--n", "5", "--since", "30d", "--seed", "10", "--json")[1] != first
    code, out, _ = cli("audit", "weekly", "--since", "8d", "--json")
    turns = [json.loads(line) for line in out.splitlines()]
    assert turns and all(t["confidence"] < semconv.LOW_CONFIDENCE for t in turns)
    code, text, _ = cli("audit", "weekly", "--since", "8d")
    assert code == 0 and "botwatch audit label" in text


def test_label_records_span_event_log_and_counter(cli, journal):
    turn = json.loads(cli("audit", "weekly", "--since", "8d", "--json")[1].splitlines()[0])
    cid, index = turn["conversation_id"], turn["turn_index"]
    code, _, err = cli("audit", "label", cid, "--turn", str(index), "--wrong", "price")
    assert code == 0, err
    conn = db(journal)
    trace = conn.execute("SELECT trace_id FROM spans WHERE conversation_id=? AND family='turn'", (cid,)).fetchone()[0]
    span = conn.execute("SELECT trace_id, attributes, events FROM spans WHERE family='review'").fetchone()
    assert span[0] == trace  # in the conversation's trace
    attrs = json.loads(span[1])
    assert attrs[semconv.REVIEW_VERDICT] == "wrong" and attrs[semconv.REVIEW_TRUE_INTENT] == "price"
    assert attrs[semconv.INTENT] == turn["intent"] and attrs[semconv.TURN_INDEX] == index
    assert json.loads(span[2])[0]["name"] == semconv.EVENT_REVIEW
    log = conn.execute("SELECT trace_id FROM logs WHERE event_name=?", (semconv.EVENT_REVIEW,)).fetchone()
    assert log[0] == trace
    metric = conn.execute("SELECT attributes, value FROM metrics WHERE name=?", (semconv.REVIEWS.name,)).fetchall()
    assert any(json.loads(a)[semconv.REVIEW_VERDICT] == "wrong" and v == 1 for a, v in metric)
    code, replay, _ = cli("replay", cid)
    assert "review.labeled" in replay
    assert cli("audit", "label", cid, "--turn", str(index), "--correct")[0] == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("replay", "no-such-conversation", "--source", "journal"), 1, "no conversation 'no-such-conversation'"),
        (("audit", "label", "no-such", "--turn", "1", "--correct"), 1, "no conversation 'no-such'"),
        (("audit", "label", "demo-3-1", "--turn", "99", "--correct"), 1, "has no turn 99"),
        (("sessions", "--since", "1s"), 1, "no conversations match"),
        (("sessions", "--channel", "fax"), 1, "channel=fax"),
        (("export", "--since", "1s"), 1, "nothing recorded in the last 1 seconds"),
        (("audit", "sample", "--since", "1s"), 1, "no conversations in the last"),
        (("sessions", "--limit", "0"), 2, "--limit and --page must be at least 1"),
        (("sessions", "--source", "stack"), 2, "--source stack needs --loki-url"),
    ],
)
def test_bad_input_gives_a_message_and_exit_code(cli, args, code, message):
    got, out, err = cli(*args)
    assert got == code, (out, err)
    assert message in err


def test_unreadable_journal_is_exit_3(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BOTWATCH_SOURCE", raising=False)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    assert main(["sessions", "--journal", str(bad)]) == 3
    assert main(["export", "--journal", str(tmp_path / "missing.sqlite")]) == 3
    err = capsys.readouterr().err
    assert "not a botwatch journal" in err and "no journal here yet" in err and "Traceback" not in err


def test_unwritable_export_target_is_a_usage_error(cli, tmp_path):
    code, _, err = cli("export", "--since", "8d", "--out", str(tmp_path / "no" / "dir" / "x.csv"), "--quiet")
    assert code == 2 and "cannot write" in err
