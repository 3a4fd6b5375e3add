"""Two tenants on one native stack: each owner gets only their own alerts, by their own targets.

Everything is real and local: ``botwatch stack up --tenants FILE`` starts the
built collector, Debian's Prometheus and the pinned Alertmanager (the rules and
Alertmanager timings are the faithful copies of test_alerts_e2e.py, durations
divided by 30); two bot processes (``tenant_bot.py``: the SDK with
``init(tenant=...)``, same service name) send through the collector; Alertmanager
delivers to ``telegram_api.BotAPI``, and each message is checked by the chat it
went to.

A third tenant, gw-3, is a no-code bot: its events reach ``botwatch gateway``
(started on the same tenants file, its token) and the gateway records them
through the same collector; its series carry the tenant as the gateway's
data-point attribute, not a resource attribute.

The tenants file gives salon-1 a 5 s SLA and clinic-2 a 3 s SLA; gw-3 sets no
target (the default 3 s).  During the fault window every bot answers in 4 s,
and salon-1's Bitrix24 lead creations fail.  Expected: clinic-2's and gw-3's
owner chats get the SLA alert and its resolution, salon-1's owner chat gets the
lead-creation alert and its resolution, salon-1 never has an SLA alert
(Prometheus's ALERTS history), the integrator's default chat gets nothing.  The
journal behind the stack then answers ``botwatch kpi --tenant`` with each
tenant's own conversations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import binaries
from harness.alert_stack import TOKEN, Message, scaled_stack_up
from harness.paths import TESTS
from harness.ports import PORT_OPTIONS, free_ports
from harness.processes import ManagedProcess
from telegram_api import BotAPI

pytestmark = [pytest.mark.stack, pytest.mark.slow]


DEFAULT_CHAT = -1001000000000  # the integrator's chat: alerts without a tenant
SALON, CLINIC, GATEWAY = "salon-1", "clinic-2", "gw-3"
CHATS = {SALON: -1001000000001, CLINIC: -1001000000002, GATEWAY: -1001000000003}
GATEWAY_TOKEN = "gw-3-write-token-0123456789"
TENANTS = f"""
[[tenants]]
id = "{SALON}"
token = "salon-1-token-0123456789"
[tenants.owner]
chat_id = {CHATS[SALON]}
[tenants.targets]
sla_seconds = 5

[[tenants]]
id = "{CLINIC}"
token = "clinic-2-token-0123456789"
[tenants.owner]
chat_id = {CHATS[CLINIC]}
[tenants.targets]
sla_seconds = 3

[[tenants]]
id = "{GATEWAY}"
token = "{GATEWAY_TOKEN}"
rate = 1000
[tenants.owner]
chat_id = {CHATS[GATEWAY]}
"""
SERVICE = "salon-bot"  # both tenants' bots: routing must go by tenant, not by bot name
FAULT_START, FAULT_END = 15.0, 45.0  # seconds after a bot starts
RECOVERY_MAX_S = 60.0
SLA_BREACH = "BotwatchResponseSLABreach"
LEAD_FAILING = "BotwatchLeadCreationFailing"


def botwatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


@dataclass(frozen=True)
class Sent:
    chat_id: int
    message: Message


@dataclass
class Run:
    sent: list[Sent]
    during_fault: dict[str, float]  # over-SLA ratio per tenant while both bots were slow
    during_fault_gateway: float  # the same for gw-3, recorded by the gateway
    slow_turns: dict[str, float]  # turns over 3 s per tenant in the same window (raw buckets)
    salon_sla_alerts: list[Any]  # ALERTS history of an SLA alert for salon-1
    fault_end: float
    journal: Path
    env: dict[str, str]

    def to(self, tenant: str) -> list[Message]:
        return [s.message for s in self.sent if s.chat_id == CHATS[tenant]]

    def summary(self) -> str:
        return "\n".join(f"  chat {s.chat_id}: {s.message.alertname} {s.message.status}" for s in self.sent)


def _query(prometheus: str, expr: str, path: str = "query", **params: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/{path}?" + urllib.parse.urlencode({"query": expr, **params})
    with urllib.request.urlopen(url, timeout=10) as response:
        return list(json.load(response)["data"]["result"])


def _by_tenant(result: list[dict[str, Any]]) -> dict[str, float]:
    return {s["metric"].get("botwatch_tenant", ""): float(s["value"][1]) for s in result}


def _wait(condition: Callable[[], bool], deadline: float) -> bool:
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.3)
    return True


def _sent(telegram: BotAPI) -> list[Sent]:
    return [
        Sent(int(call.params["chat_id"]), Message(call.at, str(call.params.get("text", ""))))
        for call in telegram.accepted()
    ]


class GatewayBot:
    """A no-code bot of gw-3: ``rate`` events per second to the gateway, replies of 4 s in the fault window."""

    def __init__(self, url: str, fault: tuple[float, float], rate: float = 5.0) -> None:
        self.url, self.fault, self.rate = url, fault, rate
        self.accepted = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-bot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(1 / self.rate):
            slow = self.fault[0] <= time.monotonic() < self.fault[1]
            latency_ms = 4000.0 if slow else 1000.0
            sent = datetime.now(UTC) - timedelta(milliseconds=latency_ms)
            event = {
                "event_id": f"gw-evt-{n}",
                "timestamp": sent.isoformat(),
                "channel": "whatsapp",
                "session_id": f"gw-s{n}",
                "text": "Можно записаться на маникюр?",
                "intent": "booking",
                "confidence": 0.9,
                "bot_response": "Да, на субботу 12:00",
                "latency_ms": latency_ms,
            }
            request = urllib.request.Request(
                f"{self.url}/v1/events",
                data=json.dumps(event).encode(),
                headers={"Authorization": f"Bearer {GATEWAY_TOKEN}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self.accepted += response.status == 200
            except OSError as error:
                self.errors.append(str(error))
            n += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _has(telegram: BotAPI, tenant: str, alertname: str, status: str) -> bool:
    return any(
        s.chat_id == CHATS[tenant] and s.message.alertname == alertname and s.message.status == status
        for s in _sent(telegram)
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    for find in (binaries.collector_binary, binaries.prometheus_binary, binaries.alertmanager_binary):
        find()  # skip (fail in CI) with the build command when one is missing
    work = tmp_path_factory.mktemp("tenants-e2e")
    tenants_file = work / "tenants.toml"
    tenants_file.write_text(TENANTS)
    token_file = work / "telegram_bot_token"
    token_file.write_text(TOKEN + "\n")
    journal = work / "journal.sqlite"
    *stack_ports, gateway_port = free_ports(len(PORT_OPTIONS) + 1)
    ports = dict(zip(PORT_OPTIONS, stack_ports, strict=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env.update(
        XDG_DATA_HOME=str(work / "xdg"),
        BOTWATCH_SECRET_FILE=str(work / "secret"),
        COLLECTOR_REMOTE_WRITE_FLUSH_INTERVAL="1s",
    )
    telegram = BotAPI(TOKEN)
    directory = work / "stack"
    bots: list[ManagedProcess] = []
    gateway_bot: GatewayBot | None = None
    try:
        up = botwatch(
            *scaled_stack_up(
                work,
                ports,
                token_file=token_file,
                chat_id=DEFAULT_CHAT,
                telegram_url=telegram.url,
                tenants_file=tenants_file,
                journal=journal,
            ),
            env=env,
        )
        assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"
        prometheus = f"http://127.0.0.1:{ports['--prometheus-port']}"
        otlp = f"http://127.0.0.1:{ports['--otlp-http-port']}"
        gateway_env = {
            **env,
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "BOTWATCH_JOURNAL": str(work / "gateway-fallback.sqlite"),  # its idempotency file goes beside it
        }
        command = [sys.executable, "-m", "botwatch.cli", "gateway", f"--tenants={tenants_file}"]
        gateway = ManagedProcess(
            "gateway", [*command, f"--port={gateway_port}"], log_path=work / "gateway.log", env=gateway_env
        )
        gateway.start()
        bots.append(gateway)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        assert _wait(lambda: _ready(gateway_url), time.monotonic() + 30), gateway.log_tail(20)
        started = time.monotonic()
        for tenant in (SALON, CLINIC):
            bot_env = {
                **env,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['--otlp-http-port']}",
                "OTEL_METRIC_EXPORT_INTERVAL": "1000",
                "BOTWATCH_JOURNAL": str(work / f"{tenant}-fallback.sqlite"),  # unused with an endpoint
                "BOT_TENANT": tenant,
                "BOT_SERVICE": SERVICE,
                "BOT_SECONDS": str(FAULT_END + RECOVERY_MAX_S + 10),
                "BOT_FAULT_START": str(FAULT_START),
                "BOT_FAULT_END": str(FAULT_END),
                "BOT_SLOW_TURN_S": "4",
                "BOT_LEAD_ERRORS": "1" if tenant == SALON else "0",
            }
            bot = ManagedProcess(
                f"bot-{tenant}",
                [sys.executable, str(TESTS / "tenant_bot.py")],
                log_path=work / f"{tenant}.log",
                env=bot_env,
            )
            bot.start()
            bots.append(bot)
        fault_start, fault_end = started + FAULT_START, started + FAULT_END
        gateway_bot = GatewayBot(gateway_url, (fault_start, fault_end))
        # Both alerts fire while the fault lasts; then, late in the window, what the rules see per tenant.
        _wait(
            lambda: (
                _has(telegram, CLINIC, SLA_BREACH, "FIRING")
                and _has(telegram, GATEWAY, SLA_BREACH, "FIRING")
                and _has(telegram, SALON, LEAD_FAILING, "FIRING")
            ),
            fault_end - 3,
        )
        _wait(lambda: False, max(fault_start + 14, time.monotonic()))
        over_sla = _by_tenant(
            _query(prometheus, f'job_channel:botwatch_turns_over_sla:ratio_rate5m{{job="{SERVICE}"}}')
        )
        gateway_sla = _by_tenant(
            _query(prometheus, f'job_channel:botwatch_turns_over_sla:ratio_rate5m{{botwatch_tenant="{GATEWAY}"}}')
        )
        slow = _by_tenant(
            _query(
                prometheus,
                "sum by (botwatch_tenant) (increase(botwatch_turn_duration_seconds_count[10s]))"
                ' - sum by (botwatch_tenant) (increase(botwatch_turn_duration_seconds_bucket{le="3"}[10s]))',
            )
        )
        _wait(
            lambda: (
                _has(telegram, CLINIC, SLA_BREACH, "RESOLVED")
                and _has(telegram, GATEWAY, SLA_BREACH, "RESOLVED")
                and _has(telegram, SALON, LEAD_FAILING, "RESOLVED")
            ),
            fault_end + RECOVERY_MAX_S,
        )
        assert gateway_bot.accepted > 100 and not gateway_bot.errors, (gateway_bot.accepted, gateway_bot.errors[:3])
        assert all(b.running for b in bots), "a bot stopped early: " + " ".join(b.log_tail(10) for b in bots)
        history = _query(
            prometheus,
            f'ALERTS{{alertname="{SLA_BREACH}", botwatch_tenant="{SALON}"}}',
            "query_range",
            start=str(time.time() - (time.monotonic() - started)),
            end=str(time.time()),
            step="1s",
        )
        result = Run(_sent(telegram), over_sla, gateway_sla.get(GATEWAY, 0.0), slow, history, fault_end, journal, env)
    finally:
        if gateway_bot is not None:
            gateway_bot.stop()
        for bot in bots:
            bot.stop()
        botwatch("stack", "down", "--dir", str(directory), env=env)
        telegram.close()
    print(f"\nTelegram messages by chat:\n{result.summary()}")
    yield result


def test_each_tenant_gets_only_its_own_alert_and_its_resolution(run: Run) -> None:
    assert run.sent, "nothing reached Telegram"
    assert {s.chat_id for s in run.sent} <= set(CHATS.values()), f"a message left the tenants' chats:\n{run.summary()}"
    salon, clinic, gateway = run.to(SALON), run.to(CLINIC), run.to(GATEWAY)
    assert {m.alertname for m in salon} == {LEAD_FAILING}, run.summary()
    assert {m.alertname for m in clinic} == {SLA_BREACH}, run.summary()
    assert {m.alertname for m in gateway} == {SLA_BREACH}, run.summary()
    assert "Бот botwatch-gateway" in gateway[0].text, gateway[0].text  # the gateway's series, gw-3's chat
    for messages in (salon, clinic, gateway):
        assert messages[0].status == "FIRING" and messages[-1].status == "RESOLVED", run.summary()
        assert any(m.status == "RESOLVED" and m.at >= run.fault_end for m in messages), run.summary()
    assert "дольше 3 с" in next(m.text for m in clinic if m.status == "FIRING")


def test_a_5s_sla_does_not_fire_where_a_3s_sla_does(run: Run) -> None:
    # Both bots answered in 4 s: the raw buckets show slow turns for each tenant ...
    assert run.slow_turns.get(SALON, 0) > 5 and run.slow_turns.get(CLINIC, 0) > 5, run.slow_turns
    # ... salon-1 (5 s) is within its SLA, clinic-2 (3 s) is not.
    assert run.during_fault.get(SALON) == 0, run.during_fault
    assert run.during_fault.get(CLINIC, 0) > 0.9, run.during_fault
    assert run.during_fault_gateway > 0.9, run.during_fault_gateway  # gw-3: no target of its own, the default 3 s
    assert run.salon_sla_alerts == [], "salon-1 had an SLA alert (pending or firing)"


def test_journal_behind_the_stack_answers_per_tenant(run: Run) -> None:
    counts = {}
    for tenant in (SALON, CLINIC, GATEWAY, "nobody"):
        result = botwatch(
            "kpi", "--since", "1h", "--json", f"--journal={run.journal}", f"--tenant={tenant}", env=run.env
        )
        assert result.returncode == 0, result.stderr
        counts[tenant] = json.loads(result.stdout)
    everyone = json.loads(botwatch("kpi", "--since", "1h", "--json", f"--journal={run.journal}", env=run.env).stdout)
    assert counts[SALON]["conversations"] > 100 and counts[CLINIC]["conversations"] > 100, counts
    assert counts[GATEWAY]["conversations"] > 100 and counts[GATEWAY]["services"] == ["botwatch-gateway"], counts
    assert sum(int(counts[t]["conversations"]) for t in (SALON, CLINIC, GATEWAY)) == everyone["conversations"]
    assert counts["nobody"]["conversations"] == 0
    # Only salon-1's lead creations failed.
    assert counts[SALON]["lead_create_failures"] > 0 and counts[CLINIC]["lead_create_failures"] == 0, counts
