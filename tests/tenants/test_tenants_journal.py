"""The journal by tenant (``--tenant`` on kpi, sessions, replay, export, insights) and the manager's view.

One journal holds three businesses, each written by a real SDK process
(tests/tenant_bot.py and a gateway-shaped process): salon-1 and clinic-2 are
bots with ``init(tenant=...)`` (the tenant on the resource), gw-1 is recorded
by a shared process that names the tenant on each turn's span only, as the
webhook gateway does.  The same conversation id is used by two tenants, so the
split cannot lean on ids.  A manager's export and replay are scanned for any
client message text, bot reply text, masked phone or client hash: none.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.paths import TESTS

from botwatch.journal import Journal

SALON, CLINIC, GATEWAY = "salon-1", "clinic-2", "gw-1"
CLIENT_TEXT = "Хочу записаться на стрижку завтра"  # tenant_bot.py's client message
BOT_TEXT = "Записал вас на завтра, 15:00"
GATEWAY_TEXT = "Здравствуйте, можно на маникюр в субботу?"
GATEWAY_BOT = """
import botwatch
from botwatch import semconv
botwatch.init(service_name="botwatch-gateway")
for n in range(6):
    with botwatch.conversation(f"salon-1-c{n}", channel="web", client_phone=f"+7912444{n:04d}", tenant="gw-1") as conv:
        with conv.turn(CLIENT_MESSAGE) as turn:
            turn.span.set_attribute(semconv.TENANT, "gw-1")
            turn.intent("booking", confidence=0.8)
            turn.reply("Да, на 12:00")
        conv.funnel("booking_created")
botwatch.shutdown()
""".replace("CLIENT_MESSAGE", repr(GATEWAY_TEXT))


def _env(journal: Path, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    return {**env, "BOTWATCH_JOURNAL": str(journal), "BOTWATCH_SECRET_FILE": str(work / "secret")}


def botwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    work = tmp_path_factory.mktemp("tenants-journal")
    path = work / "journal.sqlite"
    env = _env(path, work)
    for tenant, faults in ((SALON, "1"), (CLINIC, "0")):
        bot = {
            **env,
            "BOT_TENANT": tenant,
            "BOT_RATE": "40",
            "BOT_SECONDS": "0.5",
            "BOT_FAULT_START": "0",
            "BOT_FAULT_END": "100",
            "BOT_SLOW_TURN_S": "4" if tenant == SALON else "1",
            "BOT_LEAD_ERRORS": faults,
        }
        done = subprocess.run([sys.executable, str(TESTS / "tenant_bot.py")], env=bot, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-c", GATEWAY_BOT], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    time.sleep(4.5)  # salon-1's slow replies are stamped up to 4 s ahead; reads end at now
    yield path, env


def _kpi(env: dict[str, str], *extra: str) -> dict[str, object]:
    result = botwatch(env, "kpi", "--since", "1d", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_kpi_per_tenant_adds_up_and_keeps_each_tenants_numbers(journal: tuple[Path, dict[str, str]]) -> None:
    _path, env = journal
    everyone = _kpi(env)
    by_tenant = {t: _kpi(env, f"--tenant={t}") for t in (SALON, CLINIC, GATEWAY)}
    assert all(by_tenant[t]["conversations"] for t in by_tenant), by_tenant
    # The whole journal counts distinct ids: the 6 ids two tenants share count once there, once per tenant here.
    conversations = sum(int(k["conversations"]) for k in by_tenant.values())  # type: ignore[call-overload]
    assert conversations == int(everyone["conversations"]) + 6  # type: ignore[call-overload]
    assert sum(int(k["turns"]) for k in by_tenant.values()) == everyone["turns"]  # type: ignore[call-overload]
    assert by_tenant[GATEWAY]["conversations"] == 6 and by_tenant[GATEWAY]["services"] == ["botwatch-gateway"]
    # Only salon-1's turns were slow and its lead creations failed.
    assert by_tenant[SALON]["sla_breach_share"] == 1 and by_tenant[CLINIC]["sla_breach_share"] == 0
    assert by_tenant[SALON]["lead_failure_rate"] == 1 and by_tenant[CLINIC]["lead_failure_rate"] == 0
    assert by_tenant[SALON]["tenant"] == SALON
    assert _kpi(env, "--tenant=nobody")["conversations"] == 0
    table = botwatch(env, "kpi", "--since", "1d", f"--tenant={GATEWAY}")
    assert table.returncode == 0 and table.stdout.startswith(f"Tenant: {GATEWAY}\n"), table.stdout


def test_sessions_replay_and_insights_by_tenant(journal: tuple[Path, dict[str, str]]) -> None:
    _path, env = journal
    # The id salon-1-c0 exists for salon-1 (its bot) and for gw-1 (the gateway-shaped process).
    gateway = botwatch(env, "replay", "salon-1-c0", f"--tenant={GATEWAY}")
    salon = botwatch(env, "replay", "salon-1-c0", f"--tenant={SALON}")
    assert gateway.returncode == 0 and salon.returncode == 0, gateway.stderr + salon.stderr
    assert GATEWAY_TEXT in gateway.stdout and CLIENT_TEXT not in gateway.stdout
    assert CLIENT_TEXT in salon.stdout and GATEWAY_TEXT not in salon.stdout
    missing = botwatch(env, "replay", "salon-1-c0", f"--tenant={CLINIC}")
    assert missing.returncode == 1 and "for tenant clinic-2" in missing.stderr
    sessions = botwatch(env, "sessions", "--since=1d", "--json", "--limit=500", f"--tenant={CLINIC}")
    assert sessions.returncode == 0, sessions.stderr
    ids = [json.loads(line)["conversation_id"] for line in sessions.stdout.splitlines()]
    assert ids and all(i.startswith("clinic-2-c") for i in ids)
    insights = botwatch(env, "insights", "--since=1d", "--quiet", f"--tenant={GATEWAY}")
    assert insights.returncode == 0, insights.stderr
    bad = botwatch(env, "kpi", "--tenant=a b")
    assert bad.returncode == 2 and "tenant 'a b'" in bad.stderr


def test_reader_api_by_tenant(journal: tuple[Path, dict[str, str]]) -> None:
    path, _env = journal
    with Journal(path, tenant=GATEWAY) as scoped, Journal(path) as whole:
        assert scoped.counts()["spans"] < whole.counts()["spans"]
        assert scoped.counts()["logs"] > 0 and scoped.counts()["funnel"] == 12  # started + booked, 6 conversations
        assert {c.conversation_id for c in scoped.conversations(limit=None)} == {f"salon-1-c{n}" for n in range(6)}


def _export(env: dict[str, str], *extra: str) -> list[dict[str, str]]:
    result = botwatch(env, "export", "--since=1d", "--quiet", "--format=csv", "--delimiter=comma", *extra)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff"))))


def test_a_manager_export_has_no_client_text_and_no_client_hash(journal: tuple[Path, dict[str, str]]) -> None:
    _path, env = journal
    owner = _export(env, f"--tenant={GATEWAY}")
    assert any(GATEWAY_TEXT in (r["text"] or "") for r in owner), "the owner's export should hold the text"
    assert any("***" in (r["client_phone"] or "") for r in owner), "the owner's export should hold the masked phone"
    manager_csv = botwatch(env, "export", "--since=1d", "--quiet", "--role=manager")
    assert manager_csv.returncode == 0, manager_csv.stderr
    manager_json = botwatch(env, "export", "--since=1d", "--quiet", "--role=manager", "--format=jsonl")
    for output in (manager_csv.stdout, manager_json.stdout):
        for forbidden in (CLIENT_TEXT, BOT_TEXT, GATEWAY_TEXT, "ph_", "***", "+7912"):
            assert forbidden not in output, forbidden
    rows = [json.loads(line) for line in manager_json.stdout.splitlines()]
    assert len(rows) == len(_export(env)), "a manager sees every event, without the words"
    assert {r.get("intent") for r in rows} - {None} == {"booking"} and any(r.get("latency_ms") for r in rows)
    assert all(r["trace_id"] and r["session_id"] for r in rows)  # links stay


def test_a_manager_replay_and_a_manager_environment(journal: tuple[Path, dict[str, str]]) -> None:
    _path, env = journal
    replay = botwatch(env, "replay", "salon-1-c0", f"--tenant={GATEWAY}", "--role=manager", "--lang=en")
    assert replay.returncode == 0, replay.stderr
    for forbidden in (GATEWAY_TEXT, "Да, на 12:00", "ph_", "***"):
        assert forbidden not in replay.stdout, forbidden
    assert f"text hidden for the manager role, {len(GATEWAY_TEXT)} characters" in replay.stdout
    assert "booking" in replay.stdout and "booking_created" in replay.stdout
    manager_env = {**env, "BOTWATCH_ROLE": "manager"}
    assert GATEWAY_TEXT not in botwatch(manager_env, "replay", "salon-1-c0", f"--tenant={GATEWAY}").stdout
    refused = botwatch(manager_env, "export", "--since=1d", "--role=owner")
    assert refused.returncode == 2 and "owner's view is not available" in refused.stderr and not refused.stdout
    assert botwatch(manager_env, "sessions", "--since=1d", "--role=owner").returncode == 2
