"""The tenants file's per-tenant limits, applied: ``label_budget`` in the gateway, ``retention`` in the journal.

* Label budgets: a real ``botwatch gateway`` process serves two tenants from
  one tenants file (the whole stack's: owner chats, retention and gateway
  tokens in the same tables); ``tight`` has ``label_budget = 10``, ``roomy``
  none (the default 300).  Both send 30 turns with 30 different intents (each
  within the 50 intent slots a tenant has), the gateway exports its metrics
  over OTLP to a local receiver when it drains: ``tight``'s label sets past
  10 fold into ``other``, ``roomy`` keeps all 30 intents.
* Retention: real SDK processes write one journal for four tenants (two
  bots with the tenant on their resource, one gateway-shaped process that
  names it on the turn span only, one with no own retention); pruning at a
  later "now" removes exactly the rows of the tenants whose retention has
  passed; the stack's journal receiver, given the tenants file, prunes a
  3-day-old tenant with a 2-day retention at its first write and keeps the
  other.
* Bad values stop with one line naming the tenant and the key.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gateway_support import Gateway
from otlp_receiver import OTLPReceiver

import botwatch
from botwatch import semconv, tenants
from botwatch.budgets import SERIES_RESERVE
from botwatch.gateway.gateway_config import ConfigError
from botwatch.gateway.gateway_config import load as load_gateway
from botwatch.journal.journal_settings import JournalSettings
from botwatch.journal.retention import prune, with_tenants
from botwatch.journal.tenant_scope import restrict

TIGHT_TOKEN = "tok_tight_budget_0123456789"
ROOMY_TOKEN = "tok_roomy_budget_0123456789"
TENANTS = f"""
[[tenants]]
id = "tight"
token = "{TIGHT_TOKEN}"
label_budget = 10
retention = "7d"
[tenants.owner]
chat_id = -1001000000011

[[tenants]]
id = "roomy"
token = "{ROOMY_TOKEN}"
[tenants.owner]
chat_id = -1001000000012
"""
INTENTS = [f"intent{n:02d}" for n in range(30)]


# -- label budgets through the gateway -------------------------------------------------------------
def _points(receiver: OTLPReceiver, name: str) -> list[dict[str, Any]]:
    found = [metric for metric, _ in receiver.metrics() if metric.name == name]
    assert found, f"{name} not exported"
    data = found[-1].histogram if found[-1].HasField("histogram") else found[-1].sum
    return [{kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in p.attributes} for p in data.data_points]


def _events(tenant: str) -> list[dict[str, Any]]:
    sent = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    return [
        {
            "event_id": f"{tenant}-{n}",
            "timestamp": sent,
            "channel": "whatsapp",
            "session_id": f"s{n}",
            "text": "Хочу записаться",
            "intent": intent,
            "confidence": 0.9,
            "bot_response": "Записал",
            "latency_ms": 900,
        }
        for n, intent in enumerate(INTENTS)
    ]


def test_a_tenants_small_label_budget_folds_only_its_own_series(tmp_path, receiver: OTLPReceiver) -> None:
    receiver.clear()
    gateway = Gateway(tmp_path, endpoint=receiver.url)
    gateway.tenants.write_text(TENANTS)
    assert tenants.load(gateway.tenants).get("tight").label_budget == 10  # the same file is the stack's
    gateway.start()
    try:
        for tenant, token in (("tight", TIGHT_TOKEN), ("roomy", ROOMY_TOKEN)):
            status, answer = gateway.post({"events": _events(tenant)}, {"Authorization": f"Bearer {token}"})
            assert status == 200 and {r["status"] for r in answer["results"]} == {"accepted"}, answer
        assert gateway.stop() == 0  # the drain flushes the metrics to the receiver
    finally:
        gateway.kill()

    points = _points(receiver, semconv.TURN_DURATION.name)
    assert not [p for p in points if p.get("otel.metric.overflow")], "the SDK's global overflow series was used"
    intents = {
        t: Counter(p.get(semconv.INTENT) for p in points if p.get(semconv.TENANT) == t) for t in ("tight", "roomy")
    }
    # roomy: every intent its own series, nothing folded
    assert set(intents["roomy"]) == set(INTENTS), intents["roomy"]
    # tight: its first 10 label sets keep their intent, the other 20 turns land in `other`
    kept = set(intents["tight"]) - {semconv.OTHER}
    assert len(kept) == 10 and kept < set(INTENTS), intents["tight"]
    assert semconv.OTHER in intents["tight"]
    assert sum(intents["tight"].values()) <= 10 + SERIES_RESERVE
    hits = _points(receiver, semconv.LABEL_BUDGET_EXCEEDED.name)
    spent = {(p[semconv.TENANT], p[semconv.BUDGET_KIND], p[semconv.BUDGET_SUBJECT]) for p in hits}
    assert ("tight", semconv.BUDGET_KIND_SERIES, semconv.TURN_DURATION.name) in spent
    assert not [s for s in spent if s[0] == "roomy"], spent


def test_the_sdk_takes_a_budget_per_tenant(receiver: OTLPReceiver, tmp_path, monkeypatch) -> None:
    """``init(label_budgets=)`` as the gateway calls it: one tenant's budget, the rest the default."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    telemetry = botwatch.init(
        service_name="gw", endpoint=receiver.url, secret="limits-secret-0123456789", label_budgets={"tight": 12}
    )
    try:
        assert telemetry.budgets.budget("tight") == 12 and telemetry.budgets.budget("roomy") == 300
        for tenant in ("tight", "roomy"):
            for n, intent in enumerate(INTENTS):
                with botwatch.conversation(f"{tenant}-{n}", channel="telegram", tenant=tenant) as conv:
                    with conv.turn("Привет") as turn:
                        turn.intent(intent, confidence=0.9)
                        turn.reply("Здравствуйте")
        botwatch.flush()
    finally:
        botwatch.shutdown()
    points = _points(receiver, semconv.TURN_DURATION.name)
    tight = {p[semconv.INTENT] for p in points if p[semconv.TENANT] == "tight"}
    roomy = {p[semconv.INTENT] for p in points if p[semconv.TENANT] == "roomy"}
    assert len(tight - {semconv.OTHER}) == 12 and semconv.OTHER in tight
    assert roomy == set(INTENTS)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "tenant tight: label_budget: 0 is out of range (10..100000"),
        ("-5", "tenant tight: label_budget: -5 is out of range (10..100000"),
        ('"300"', "tenant tight: label_budget: '300' is not a whole number"),
        ("true", "tenant tight: label_budget: True is not a whole number"),
        ("2.5", "tenant tight: label_budget: 2.5 is not a whole number"),
    ],
)
def test_a_bad_label_budget_stops_the_gateway_with_its_tenant_and_key(tmp_path, value: str, message: str) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS.replace("label_budget = 10", f"label_budget = {value}"))
    with pytest.raises(ConfigError) as raised:
        load_gateway(path, env={})
    assert message in str(raised.value)
    with pytest.raises(tenants.TenantsError, match="tenant tight: label_budget: "):
        tenants.load(path)


def test_the_gateway_command_refuses_a_bad_budget(tmp_path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS.replace("label_budget = 10", "label_budget = 0"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    run = subprocess.run(
        [sys.executable, "-m", "botwatch.cli.gateway_command", "--tenants", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "BOTWATCH_JOURNAL": str(tmp_path / "j.sqlite")},
    )
    assert run.returncode != 0
    assert "tenant tight: label_budget: 0 is out of range" in run.stderr


def test_label_budgets_given_to_the_sdk_are_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    for budgets, message in (
        ({"tight": 0}, "tenant tight: 0 label sets; a budget must be at least 1"),
        ({"tight": "10"}, "tenant tight: '10' is not a whole number"),
        ({"Салон 1": 10}, "label_budgets: tenant 'Салон 1'"),
    ):
        with pytest.raises(ValueError, match=message):
            botwatch.init(service_name="x", journal=tmp_path / "j.sqlite", label_budgets=budgets)
    botwatch.shutdown()


# -- retention ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('retention = "36h"', timedelta(hours=36)),
        ('retention = "30d"', timedelta(days=30)),
        ('retention = "12W"', timedelta(weeks=12)),
        ("retention_days = 45", timedelta(days=45)),
    ],
)
def test_retention_is_a_duration(line: str, expected: timedelta) -> None:
    document = _document(line)
    assert tenants.parse(document).get("a").retention == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('retention = "30"', "tenant a: retention: '30' is not a duration: a whole number and a unit, h (hours)"),
        ('retention = "30 days"', "tenant a: retention: '30 days' is not a duration"),
        ('retention = "1.5d"', "tenant a: retention: '1.5d' is not a duration"),
        ("retention = 30", "tenant a: retention: 30 is not a duration"),
        ('retention = "0d"', "tenant a: retention: '0d' is out of range (1h..3650d)"),
        ('retention = "-3d"', "tenant a: retention: '-3d' is not a duration"),
        ('retention = "4000d"', "tenant a: retention: '4000d' is out of range"),
        ('retention = "30d"\nretention_days = 30', "tenant a: retention and retention_days both set"),
        ("retention_days = 0", "tenant a: retention_days: 0 is out of range (1..3650)"),
    ],
)
def test_a_bad_retention_names_the_tenant_and_the_key(line: str, message: str) -> None:
    with pytest.raises(tenants.TenantsError) as raised:
        tenants.parse(_document(line))
    assert message in str(raised.value)


def _document(line: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(f'[[tenants]]\nid = "a"\n{line}\n[tenants.owner]\nchat_id = -100123\n')


WRITER = """
import sys, botwatch
from botwatch import semconv
tenant, shared = sys.argv[1], sys.argv[2] == "shared"
botwatch.init(service_name="bot" if not shared else "botwatch-gateway", tenant=None if shared else tenant)
for n in range(3):
    # the same conversation ids for every tenant: the split cannot lean on them
    with botwatch.conversation(f"c{n}", channel="telegram", tenant=tenant if shared else None) as conv:
        with conv.turn("Хочу записаться") as turn:
            if shared:
                turn.span.set_attribute(semconv.TENANT, tenant)
            turn.intent("booking", confidence=0.8)
            turn.reply("Записал")
        conv.funnel("booking_created")
botwatch.shutdown()
"""
# tenant -> how its rows are written (own resource, or a shared gateway-shaped process)
WRITERS = {"short-bot": "own", "short-gw": "shared", "plain-bot": "own", "long-bot": "own"}
RETENTION_FILE = """
[[tenants]]
id = "short-bot"
retention = "7d"
[tenants.owner]
chat_id = -1001
[[tenants]]
id = "short-gw"
retention = "7d"
[tenants.owner]
chat_id = -1002
[[tenants]]
id = "plain-bot"
[tenants.owner]
chat_id = -1003
[[tenants]]
id = "long-bot"
retention = "120d"
[tenants.owner]
chat_id = -1004
"""


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("retention")
    path = work / "journal.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env.update(BOTWATCH_JOURNAL=str(path), BOTWATCH_SECRET_FILE=str(work / "secret"))
    for tenant, how in WRITERS.items():
        run = subprocess.run(
            [sys.executable, "-c", WRITER, tenant, how], capture_output=True, text=True, timeout=120, env=env
        )
        assert run.returncode == 0, run.stderr
    return path


def _rows(path: Path, tenant: str) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        restrict(conn, tenant)
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("spans", "logs", "funnel")}
    finally:
        conn.close()


def _copy(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def test_retention_removes_only_the_short_tenants_old_rows(journal: Path, tmp_path) -> None:
    path = _copy(journal, tmp_path / "journal.sqlite")
    before = {t: _rows(path, t) for t in WRITERS}
    for tenant, rows in before.items():
        assert rows["spans"] >= 6 and rows["funnel"] >= 3, (tenant, rows)  # 3 conversations: root + turn each
    tenants_file = tmp_path / "tenants.toml"
    tenants_file.write_text(RETENTION_FILE)
    settings = with_tenants(JournalSettings(retention=timedelta(days=30)), tenants_file)
    assert settings.tenant_retention == {
        "short-bot": timedelta(days=7),
        "short-gw": timedelta(days=7),
        "long-bot": timedelta(days=120),
    }

    # 3 days later: nobody's retention has passed
    assert prune(path, settings, now=datetime.now(UTC) + timedelta(days=3)).rows == 0
    # 10 days later: the two 7-day tenants (a bot's resource, the gateway's per-span tenant) lose every row
    result = prune(path, settings, now=datetime.now(UTC) + timedelta(days=10))
    after = {t: _rows(path, t) for t in WRITERS}
    assert after["short-bot"] == after["short-gw"] == {"spans": 0, "logs": 0, "funnel": 0}
    assert after["plain-bot"] == before["plain-bot"] and after["long-bot"] == before["long-bot"]
    removed = sum(before["short-bot"].values()) + sum(before["short-gw"].values())
    assert result.spans + result.logs + result.funnel == removed
    # 60 days later: the default (30 days) removes plain-bot; long-bot keeps its 120 days
    prune(path, settings, now=datetime.now(UTC) + timedelta(days=60))
    assert sum(_rows(path, "plain-bot").values()) == 0
    assert _rows(path, "long-bot") == before["long-bot"]
    # 130 days later: long-bot's own retention has passed too
    prune(path, settings, now=datetime.now(UTC) + timedelta(days=130))
    assert sum(_rows(path, "long-bot").values()) == 0


def test_without_tenants_every_row_keeps_the_journals_retention(journal: Path, tmp_path) -> None:
    path = _copy(journal, tmp_path / "journal.sqlite")
    settings = JournalSettings(retention=timedelta(days=30))
    assert prune(path, settings, now=datetime.now(UTC) + timedelta(days=10)).rows == 0
    prune(path, settings, now=datetime.now(UTC) + timedelta(days=31))
    assert all(sum(_rows(path, t).values()) == 0 for t in WRITERS)


def test_the_journal_receiver_refuses_a_bad_tenants_file(tmp_path) -> None:
    bad = tmp_path / "tenants.toml"
    bad.write_text(RETENTION_FILE.replace('retention = "120d"', 'retention = "четыре месяца"'))
    run = subprocess.run(
        [sys.executable, "-m", "botwatch.journal.receiver", "--port", "0", "--tenants", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "tenant long-bot: retention: 'четыре месяца' is not a duration" in run.stderr


OLD_WRITER = """
import sys, time, botwatch
tenant, days = sys.argv[1], float(sys.argv[2])
botwatch.init(service_name="bot", tenant=tenant)
start = time.time_ns() - int(days * 86400e9)
for n in range(3):
    with botwatch.conversation(f"old{n}", channel="telegram", clock=lambda: start + n * 10**9) as conv:
        with conv.turn("Хочу записаться") as turn:
            turn.reply("Записал")
botwatch.shutdown()
"""
NEW_WRITER = """
import botwatch
botwatch.init(service_name="fresh-bot", tenant="fresh")
with botwatch.conversation("new1", channel="telegram") as conv:
    with conv.turn("Привет") as turn:
        turn.reply("Здравствуйте")
botwatch.shutdown()
"""


def test_the_stacks_journal_receiver_applies_each_tenants_retention(tmp_path) -> None:
    """``stack up --tenants`` starts the receiver with the file; its first write prunes by tenant."""
    from botwatch.stack.journal_receiver import JournalReceiverProcess
    from botwatch.stack.ports import free_port

    journal = tmp_path / "journal.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env.update(BOTWATCH_JOURNAL=str(journal), BOTWATCH_SECRET_FILE=str(tmp_path / "secret"))
    for tenant in ("old-short", "old-plain"):  # both written 3 days ago, straight into the journal
        run = subprocess.run(
            [sys.executable, "-c", OLD_WRITER, tenant, "3"], capture_output=True, text=True, timeout=120, env=env
        )
        assert run.returncode == 0, run.stderr
    before = {t: _rows(journal, t)["spans"] for t in ("old-short", "old-plain")}
    assert before["old-short"] >= 6 and before["old-plain"] >= 6, before
    tenants_file = tmp_path / "tenants.toml"
    tenants_file.write_text(
        '[[tenants]]\nid = "old-short"\nretention = "2d"\n[tenants.owner]\nchat_id = -1001\n'
        '[[tenants]]\nid = "old-plain"\n[tenants.owner]\nchat_id = -1002\n'
    )
    receiver = JournalReceiverProcess(tmp_path / "receiver", free_port(), journal, tenants=tenants_file)
    (tmp_path / "receiver").mkdir()
    receiver.start()
    try:
        send = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        run = subprocess.run([sys.executable, "-c", NEW_WRITER], capture_output=True, text=True, timeout=120, env=send)
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _rows(journal, "fresh")["spans"] == 0:
            time.sleep(0.2)
    finally:
        receiver.stop()
    assert _rows(journal, "fresh")["spans"] >= 2  # the write that triggered the prune
    assert _rows(journal, "old-short")["spans"] == 0  # 3 days old, past its 2 days
    assert _rows(journal, "old-plain")["spans"] == before["old-plain"]  # the default 90 days
