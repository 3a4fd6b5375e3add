"""Weekly reports per tenant: ``botwatch report --tenant`` / ``--all-tenants [--telegram]``.

One journal holds two businesses, each written by its own simulator process
with ``BOTWATCH_TENANT`` (the SDK puts it on the resource): salon-a (Russian,
a price question that loses clients, so its report quotes a dialogue) and
clinic-b (English, its own 5 s reply target).  The reports go to the local
Bot API server (tests/telegram_api.py), which answers like Telegram, "chat not
found" included.  Every chat's message and file are checked by content: an
owner's numbers are ``botwatch kpi --tenant <it> --json``'s and not the other
business's; a managers' chat gets no client's words, phone or hash.
"""

from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_page import as_number, parse
from telegram_api import TOKEN, BotAPI

from botwatch import tenants
from botwatch.audit import report_measures as rm
from botwatch.audit.targets import for_tenant
from botwatch.cli import main

SALON, CLINIC = "salon-a", "clinic-b"
CHATS = {  # (owner chat, owner topic, managers' chat)
    SALON: (-1001000000001, 7, -1001000000002),
    CLINIC: (-1001000000003, None, -1001000000004),
}
SERVICES = {SALON: "salon-a-bot", CLINIC: "clinic-b-bot"}
SEEDS = {SALON: 21, CLINIC: 4}  # demo ids are demo-<seed>-<n>: each business's ids are its own
TENANTS_FILE = f"""
[[tenants]]
id = "{SALON}"
[tenants.owner]
chat_id = {CHATS[SALON][0]}
thread_id = {CHATS[SALON][1]}
[tenants.managers]
chat_id = {CHATS[SALON][2]}
[tenants.targets]
lead_failure_share = 0.05

[[tenants]]
id = "{CLINIC}"
language = "en"
[tenants.owner]
chat_id = {CHATS[CLINIC][0]}
[tenants.managers]
chat_id = {CHATS[CLINIC][2]}
[tenants.targets]
sla_seconds = 5
"""
CLIENT_HASH = re.compile(r"ph_[0-9a-f]{6,}")
PHONE = re.compile(r"\+7[\d ()*-]{6,}")  # a client's phone, whole or masked (+7 912 ***-**-34)


def _env(journal: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    return {**env, "BOTWATCH_JOURNAL": str(journal), "BOTWATCH_SECRET": "tenants-report-secret-0123456789"}


def botwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(journal, tenants file, environment) with both businesses' weeks recorded."""
    work = tmp_path_factory.mktemp("tenants-report")
    journal = work / "journal.sqlite"
    env = _env(journal)
    runs = {
        SALON: ("400", "broken_price=0.9,slow_llm=0.3"),
        CLINIC: ("150", "crm_errors=0.5,slow_llm=0.5"),
    }
    for tenant, (count, faults) in runs.items():
        argv = ["demo", "-n", count, "--seed", str(SEEDS[tenant]), "--faults", faults]
        done = botwatch({**env, "BOTWATCH_TENANT": tenant}, *argv, "--service-name", SERVICES[tenant])
        assert done.returncode == 0, done.stderr
    path = work / "tenants.toml"
    path.write_text(TENANTS_FILE)
    return journal, path, env


@pytest.fixture
def telegram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotAPI]:
    api = BotAPI()
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    for name in ("BOTWATCH_TELEGRAM_CHAT_ID", "BOTWATCH_TENANTS", "BOTWATCH_ROLE", "BOTWATCH_TENANT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOTWATCH_TELEGRAM_TOKEN_FILE", str(token))
    monkeypatch.setenv("BOTWATCH_TELEGRAM_API_URL", api.url)
    try:
        yield api
    finally:
        api.close()


def _kpi(env: dict[str, str], tenant: str, since: str, until: str) -> dict[str, Any]:
    done = botwatch(env, "kpi", "--json", f"--tenant={tenant}", "--since", since, "--until", until)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _chat(api: BotAPI, chat_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(messages, documents) the chat received."""
    messages = [p for p in api.sent("sendMessage") if p["chat_id"] == str(chat_id)]
    documents = [p for p in api.sent("sendDocument") if p["chat_id"] == str(chat_id)]
    return messages, documents


def _headline(message: str, lang: str, targets: Any) -> dict[str, float | None]:
    """The summary's headline values by kpi key: «Записи: <b>41,0 %</b> ✅ · …»."""
    titles = {rm.title(lang, m, targets): m for m in rm.MEASURES}
    values: dict[str, float | None] = {}
    for title, shown in re.findall(r"^(.+?): <b>(.+?)</b>", message, re.MULTILINE):
        measure = titles.get(html.unescape(title))
        if measure is None:
            continue
        text = html.unescape(shown).replace("\u00a0", " ").strip()
        if text in ("нет данных", "no data"):
            values[measure.key] = None
            continue
        number = float(text.rstrip(" %").replace(" ", "").replace(",", "."))
        values[measure.key] = number / 100 if text.endswith("%") else number
    assert set(values) == {m.key for m in rm.MEASURES}, message
    return values


def _assert_headline_is_kpi(values: dict[str, float | None], kpi: dict[str, Any], skip: set[str]) -> None:
    for key, value in values.items():
        if key in skip:
            continue
        expected = kpi[key]
        if expected is None or value is None:
            assert value is expected is None, (key, value, expected)
        elif isinstance(expected, int):
            assert value == expected, (key, value, expected)
        else:  # kpi --json rounds shares to 4 places, the report prints one decimal of the percent
            assert abs(float(expected) - value) * 100 <= 0.05 + 1e-9, (key, value, expected)


def _page_is_kpi(shown: dict[str, list[str]], kpi: dict[str, Any]) -> int:
    """Every keyed number of a page equals kpi --json's (as test_report checks a single report); how many."""
    values = {key: [as_number(text) for text in texts] for key, texts in shown.items()}
    checked = 0
    for key, numbers in values.items():
        for value in numbers:
            _assert_headline_is_kpi({key: value}, kpi, set())
            checked += 1
    return checked


def _owner_texts(env: dict[str, str], tenant: str) -> set[str]:
    """Every client message, bot reply and masked phone of the tenant's week, as its owner's export has them."""
    done = botwatch(env, "export", "--since=8d", "--quiet", "--format=jsonl", f"--tenant={tenant}")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    texts = {str(r[k]) for r in rows for k in ("text", "bot_response", "client_phone") if r.get(k)}
    return {t for t in texts if len(t) >= 12}


def test_each_chat_gets_only_its_own_business_and_managers_no_client_words(setup, telegram, capsys):
    journal, path, env = setup
    argv = ["report", "--all-tenants", "--telegram", "--tenants", str(path), "--journal", str(journal)]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"1/2 {SALON}: отправлено (владельцу и менеджерам)", out
    assert out[1] == f"2/2 {CLINIC}: отправлено (владельцу и менеджерам)", out
    assert out[2] == "итого отчётов: 2; отправлено: 2", out
    assert all(call.status == 200 for call in telegram.calls) and len(telegram.calls) == 8  # 2 x (owner, managers)

    spec = tenants.load(path)
    window: dict[str, tuple[str, str]] = {}
    for tenant, other in ((SALON, CLINIC), (CLINIC, SALON)):
        owner_chat, topic, managers_chat = CHATS[tenant]
        [message], [document] = _chat(telegram, owner_chat)
        assert message.get("message_thread_id") == (str(topic) if topic else None)
        assert document.get("message_thread_id") == (str(topic) if topic else None)
        page = document["document"].content.decode()
        numbers = parse(page)
        since, until = numbers.body["data-since"], numbers.body["data-until"]
        window[tenant] = (since, until)
        kpi, theirs = _kpi(env, tenant, since, until), _kpi(env, other, since, until)
        assert kpi["services"] == [SERVICES[tenant]] and kpi["conversations"] != theirs["conversations"]
        lang = spec.get(tenant).language
        targets = for_tenant(spec.get(tenant).targets)
        headline = _headline(message["text"], lang, targets)
        # clinic-b's replies are late past its own 5 s: the report counts those, kpi counts past 3 s.
        own_sla = {"sla_breach_share", "turns_over_sla"} if tenant == CLINIC else set()
        _assert_headline_is_kpi(headline, kpi, own_sla)
        assert headline["conversations"] != theirs["conversations"]
        shown = {k: v for k, v in numbers.current.items() if k not in own_sla | {"low_confidence_threshold"}}
        assert _page_is_kpi(shown, kpi) >= 15
        # Nothing of the other business: its bot, its conversation ids.
        for text in (message["text"], message.get("caption", ""), page):
            assert SERVICES[other] not in text and f"demo-{SEEDS[other]}-" not in text
        assert f'<html lang="{lang}">' in page
        # The managers' chat: the same numbers, no client's words, phone or hash.
        [managers_message], [managers_document] = _chat(telegram, managers_chat)
        managers_page = managers_document["document"].content.decode()
        assert _headline(managers_message["text"], lang, targets) == headline
        assert parse(managers_page).current == numbers.current
        assert managers_document["caption"].endswith("для менеджеров" if lang == "ru" else "managers' copy")
        private = _owner_texts(env, tenant)
        assert len(private) > 20
        for shown_to_managers in (managers_message["text"], managers_document["caption"], managers_page):
            assert 'class="dialogue"' not in shown_to_managers
            assert not CLIENT_HASH.search(shown_to_managers) and "•••" not in shown_to_managers
            assert not PHONE.search(shown_to_managers) and "***" not in shown_to_managers
            leaked = [text for text in private if text in shown_to_managers]
            assert not leaked, leaked[:3]

    # The salon's owner reads a dialogue where its clients are lost; the scan above would have caught it.
    salon_message = html.unescape(_chat(telegram, CHATS[SALON][0])[0][0]["text"])
    assert "<b>Где теряются клиенты</b>\n1. Вопрос о цене" in salon_message, salon_message  # plain words
    salon_page = _chat(telegram, CHATS[SALON][0])[1][0]["document"].content.decode()
    dialogue = salon_page.split('class="dialogue">')[1].split("</div>")[0]
    assert "<b>Клиент:</b>" in dialogue and any(text in html.unescape(dialogue) for text in _owner_texts(env, SALON))

    # clinic-b's own target: late past 5 s, counted in its journal rows, fewer than past the default 3 s.
    clinic_message = _chat(telegram, CHATS[CLINIC][0])[0][0]["text"]
    assert "Replies slower than 5 seconds" in clinic_message and "Ответ" not in clinic_message
    clinic_page = parse(_chat(telegram, CHATS[CLINIC][0])[1][0]["document"].content.decode())
    late_at_5 = int(clinic_page.current["turns_over_sla"][0].replace("\u00a0", ""))
    late_at_3 = _kpi(env, CLINIC, *window[CLINIC])["turns_over_sla"]
    assert late_at_5 == _turns_slower_than(journal, CLINIC, 5.0, *window[CLINIC]) and 0 < late_at_5 < late_at_3


def _turns_slower_than(journal: Path, tenant: str, seconds: float, since: str, until: str) -> int:
    """Independently of the report: the tenant's timed client turns longer than ``seconds`` in the window."""
    import sqlite3
    from datetime import datetime

    def ns(moment: str) -> int:
        return int(datetime.fromisoformat(moment).timestamp() * 1_000_000) * 1000

    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        (count,) = conn.execute(
            """SELECT COUNT(*) FROM spans JOIN resources ON resources.id = spans.resource_id
               WHERE json_extract(resources.attributes, '$."botwatch.tenant"') = ? AND spans.family = 'turn'
                 AND spans.sla_breached IS NOT NULL AND spans.duration_ns > ?
                 AND spans.start_ns >= ? AND spans.start_ns < ?""",
            (tenant, int(seconds * 1e9), ns(since), ns(until)),
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def test_a_chat_telegram_does_not_know_fails_that_tenant_only(setup, telegram, capsys):
    journal, path, _env = setup
    telegram.missing_chats.add(CHATS[SALON][0])  # the bot was never added to the salon owner's group
    argv = ["report", "--all-tenants", "--telegram", "--tenants", str(path), "--journal", str(journal)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert (
        f"1/2 {SALON}: ошибка: чат владельца {CHATS[SALON][0]} (тема 7): Telegram Bot API at {telegram.url} "
        "refused the summary (HTTP 400: Bad Request: chat not found)"
    ) in captured.err
    assert TOKEN not in captured.err + captured.out
    lines = captured.out.splitlines()
    assert lines == [
        f"2/2 {CLINIC}: отправлено (владельцу и менеджерам)",
        f"итого отчётов: 2; отправлено: 1; с ошибкой: 1 ({SALON})",
    ]
    for chat in (CHATS[CLINIC][0], CHATS[CLINIC][2]):
        assert [len(sent) for sent in _chat(telegram, chat)] == [1, 1]  # the clinic still got its reports
    assert _chat(telegram, CHATS[SALON][2]) == ([], [])


def test_one_tenant_and_files_per_tenant(setup, telegram, tmp_path, capsys):
    journal, path, _env = setup
    out = tmp_path / "one.html"
    assert (
        main(["report", "--tenant", CLINIC, "--tenants", str(path), "--journal", str(journal), "--out", str(out)]) == 0
    )
    page = out.read_text()
    assert '<html lang="en">' in page and "Replies slower than 5 seconds" in page and SERVICES[SALON] not in page
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    argv = ["report", "--tenants", str(path), "--journal", str(journal), "--out", str(out), "--tenant", SALON]
    assert main([*argv, "--telegram"]) == 0
    assert [(p["chat_id"], p.get("message_thread_id")) for p in telegram.sent()] == [(str(CHATS[SALON][0]), "7")]
    assert main([*argv, "--telegram", "--role", "manager"]) == 0  # a manager's report goes to the managers' chat
    assert telegram.sent()[-1]["chat_id"] == str(CHATS[SALON][2]) and 'class="dialogue"' not in out.read_text()
    capsys.readouterr()

    # --all-tenants without --telegram: one 0600 file per tenant (and the managers' copy) in a 0700 directory.
    directory = tmp_path / "reports"
    assert (
        main(["report", "--all-tenants", "--tenants", str(path), "--journal", str(journal), "--out", str(directory)])
        == 0
    )
    names = sorted(p.name for p in directory.iterdir())
    assert names == [f"{CLINIC}.html", f"{CLINIC}.managers.html", f"{SALON}.html", f"{SALON}.managers.html"]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.iterdir())
    assert SERVICES[CLINIC] not in (directory / f"{SALON}.html").read_text()
    assert capsys.readouterr().out.splitlines()[-1] == f"итого отчётов: 2; записано: 2 в {directory}"


def test_tenant_errors_are_clear(setup, telegram, tmp_path, capsys, monkeypatch):
    journal, path, _env = setup
    base = ["report", "--journal", str(journal), "--out", str(tmp_path / "r.html")]
    assert main([*base, "--tenant", "nobody", "--tenants", str(path)]) == 2
    assert f"unknown tenant 'nobody' (known: {SALON}, {CLINIC})" in capsys.readouterr().err
    assert main([*base, "--tenant", SALON, "--tenants", str(tmp_path / "missing.toml")]) == 2
    assert f"tenants file {tmp_path / 'missing.toml'}: no such file" in capsys.readouterr().err
    assert main([*base, "--tenant", SALON]) == 2
    assert "--tenants PATH or $BOTWATCH_TENANTS" in capsys.readouterr().err
    assert main([*base, "--tenants", str(path)]) == 2
    assert "--tenants goes with --tenant ID or --all-tenants" in capsys.readouterr().err
    everyone = ["report", "--all-tenants", "--tenants", str(path), "--out", str(tmp_path / "all")]
    assert main([*everyone, "--journal", str(tmp_path / "none.sqlite")]) == 3  # one error, not one per tenant
    assert capsys.readouterr().err.count("there is no journal here yet") == 1
    assert main([*everyone, "--source", "stack"]) == 2
    assert "--all-tenants reads the journal" in capsys.readouterr().err
    assert not (tmp_path / "all").exists()
    monkeypatch.setenv("BOTWATCH_TENANTS", str(path))  # the same variable as botwatch stack up
    assert main([*base, "--tenant", SALON]) == 0
    capsys.readouterr()
    assert not telegram.calls

    # A broken entry is that tenant's error; the others still get their reports.
    broken = tmp_path / "broken.toml"
    broken.write_text(TENANTS_FILE + '\n[[tenants]]\nid = "spa-c"\n[tenants.targets]\nsla_seconds = 5\n')
    directory = tmp_path / "reports"
    argv = ["report", "--all-tenants", "--tenants", str(broken), "--journal", str(journal), "--out", str(directory)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "3/3 spa-c: ошибка: tenants file" in captured.err and "tenant spa-c: owner: missing" in captured.err
    assert captured.out.splitlines()[-1] == f"итого отчётов: 3; записано: 2 в {directory}; с ошибкой: 1 (spa-c)"
    assert (directory / f"{SALON}.html").exists() and (directory / f"{CLINIC}.html").exists()


def test_audit_weekly_and_sample_by_tenant_and_for_a_manager(setup):
    _journal, _path, env = setup
    sample = botwatch(env, "audit", "sample", "--since=8d", "--n=20", "--json", f"--tenant={CLINIC}")
    assert sample.returncode == 0, sample.stderr
    picked = [json.loads(line)["conversation_id"] for line in sample.stdout.splitlines()]
    assert len(picked) == 20 and all(cid.startswith(f"demo-{SEEDS[CLINIC]}-") for cid in picked)
    done = botwatch(env, "audit", "weekly", "--since=8d", "--limit=0", "--json", f"--tenant={SALON}")
    assert done.returncode == 0, done.stderr
    turns = [json.loads(line) for line in done.stdout.splitlines()]
    assert turns and all(t["conversation_id"].startswith(f"demo-{SEEDS[SALON]}-") for t in turns)
    assert any(t["text"] for t in turns)
    manager = botwatch(
        env, "audit", "weekly", "--since=8d", "--limit=0", "--json", f"--tenant={SALON}", "--role=manager"
    )
    assert manager.returncode == 0, manager.stderr
    hidden = [json.loads(line) for line in manager.stdout.splitlines()]
    assert len(hidden) == len(turns) and not any(t["text"] for t in hidden)
    assert [t["conversation_id"] for t in hidden] == [t["conversation_id"] for t in turns]


def test_a_managers_placeholder_is_russian_by_default(setup):
    _journal, _path, env = setup
    listed = botwatch(env, "sessions", "--json", "--since=8d", "--limit=1", f"--tenant={SALON}")
    assert listed.returncode == 0, listed.stderr
    conversation = json.loads(listed.stdout.splitlines()[0])["conversation_id"]
    owner = botwatch(env, "replay", conversation, f"--tenant={SALON}")
    said = re.findall(r"«([^»]+)»", owner.stdout)
    assert owner.returncode == 0 and said, owner.stdout
    ru = botwatch(env, "replay", conversation, f"--tenant={SALON}", "--role=manager")
    assert ru.returncode == 0, ru.stderr
    assert f"текст скрыт для роли менеджера, {len(said[0])} символ" in ru.stdout, ru.stdout
    assert "hidden" not in ru.stdout and not any(text in ru.stdout for text in said)
    en = botwatch(env, "replay", conversation, f"--tenant={SALON}", "--role=manager", "--lang=en")
    assert f"text hidden for the manager role, {len(said[0])} characters" in en.stdout, en.stdout
    weekly = botwatch(env, "audit", "weekly", "--since=8d", "--limit=3", f"--tenant={SALON}", "--role=manager")
    assert weekly.returncode == 0, weekly.stderr
    assert weekly.stdout.count("(текст скрыт для роли менеджера)") == 3, weekly.stdout


INTEGRATOR = (-1001000000009, 3)


def test_the_integrator_gets_the_tally_of_the_run_and_no_client_data(setup, telegram, tmp_path, capsys):
    journal, _path, env = setup
    path = tmp_path / "with-integrator.toml"
    path.write_text(
        TENANTS_FILE
        + f"\n[integrator]\nchat_id = {INTEGRATOR[0]}\nthread_id = {INTEGRATOR[1]}\n"
        + '\n[[tenants]]\nid = "spa-c"\n[tenants.targets]\nsla_seconds = 5\n'  # no owner's chat: fails
    )
    telegram.missing_chats.add(CHATS[SALON][0])
    argv = ["report", "--all-tenants", "--telegram", "--tenants", str(path), "--journal", str(journal)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"итог отправлен в чат интегратора {INTEGRATOR[0]}" in out
    [message] = [p for p in telegram.sent("sendMessage") if p["chat_id"] == str(INTEGRATOR[0])]
    assert message.get("message_thread_id") == str(INTEGRATOR[1])
    assert not [p for p in telegram.sent("sendDocument") if p["chat_id"] == str(INTEGRATOR[0])]
    text = html.unescape(message["text"])
    lines = text.splitlines()
    assert lines[0].startswith("<b>botwatch: недельные отчёты владельцам, ") and lines[0].endswith("</b>")
    assert lines[1:3] == ["отправлено: 1 из 3", f"с ошибкой: 2 — {SALON}, spa-c"], lines
    # No business's numbers, no client's words, phones or ids.
    assert "demo-" not in text and not CLIENT_HASH.search(text) and not PHONE.search(text)
    assert not any(service in text for service in SERVICES.values())
    assert not [t for t in _owner_texts(env, SALON) | _owner_texts(env, CLINIC) if t in text]
    assert set(re.findall(r"\d+", text.split("\n", 1)[1])) <= {"1", "2", "3"}

    # The integrator's chat Telegram does not know: said, exit 1, the owners' reports still went.
    telegram.missing_chats.add(INTEGRATOR[0])
    telegram.missing_chats.discard(CHATS[SALON][0])
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"чат интегратора {INTEGRATOR[0]} (тема {INTEGRATOR[1]}): ошибка:" in err and "chat not found" in err
    assert len([p for p in telegram.sent("sendDocument") if p["chat_id"] == str(CHATS[SALON][0])]) == 1

    # A wrong [integrator] table is a clear error before anything is sent.
    bad = tmp_path / "bad-integrator.toml"
    bad.write_text(TENANTS_FILE + '\n[integrator]\nchat_id = "general"\n')
    sent = len(telegram.calls)
    assert main(["report", "--all-tenants", "--telegram", "--tenants", str(bad), "--journal", str(journal)]) == 2
    assert f"tenants file {bad}: integrator.chat_id: 'general' is not a Telegram chat id" in capsys.readouterr().err
    assert len(telegram.calls) == sent
