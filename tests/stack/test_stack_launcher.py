"""``botwatch stack up|status|down`` as a user runs them, with ``botwatch demo`` sending faults.

Everything is real and local: the CLI starts the built collector, Debian's
Prometheus and the pinned Alertmanager detached, in a temporary stack
directory on free ports; ``botwatch demo --rate 8 --faults crm_errors=1``
plays a bot whose Bitrix24 lead creations all fail, over OTLP to that
collector; Alertmanager delivers to ``telegram_api.BotAPI`` (a local Bot API
server, passed with ``--telegram-api-url``).

To stay well under two minutes the stack is started, through its own options
``--rules``, ``--alertmanager-config`` and ``--evaluation-interval``, with the
copies test_alerts_e2e.py makes and proves faithful (``for:``, range windows and
Alertmanager's group timings divided by 30, nothing else changed); the fastest
alert, lead creation failing, then reaches Telegram in about 20 s.
``botwatch stack down`` must leave nothing behind: checked by pid (with start
time), by process group, and by scanning every process for the stack directory.

Natively the collector's trace and log exporters reach botwatch's journal
receiver: a second bot (``botwatch demo`` under another service name) and the
webhook gateway send through the same collector, and ``kpi``, ``sessions``,
``replay`` and ``export``, run with no flags and no ``BOTWATCH_JOURNAL``, show
every conversation of all three.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import binaries
from harness.alert_stack import TOKEN, scaled_alertmanager_config, scaled_rules
from harness.ports import PORT_OPTIONS, free_ports, port_open
from harness.processes import ManagedProcess
from telegram_api import BotAPI

from botwatch.stack.pidfiles import group_members, is_alive, start_ticks

pytestmark = [pytest.mark.stack, pytest.mark.slow]

CHAT_ID = "-1001234567"
SERVICE = "stack-launcher-salon-bot"
LEAD_FAILING = "BotwatchLeadCreationFailing"
GATEWAY_TOKEN = "stack-launcher-gateway-token-0123456789"


def botwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line or working directory contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (text in cmdline or text in cwd) and is_alive(int(entry.name)):
            found.append((int(entry.name), cmdline))
    return found


def user_env(home: Path) -> dict[str, str]:
    """A user with no botwatch settings: the per-user journal lives under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    return {**env, "XDG_DATA_HOME": str(home / "xdg"), "BOTWATCH_SECRET_FILE": str(home / "secret")}


class Stack:
    def __init__(self, directory: Path, ports: dict[str, int], env: dict[str, str]) -> None:
        self.directory = directory
        self.ports = ports
        self.env = env

    def cli(self, action: str, *args: str) -> subprocess.CompletedProcess[str]:
        return botwatch("stack", action, "--dir", str(self.directory), *args, env=self.env)

    def status(self) -> tuple[int, dict[str, Any]]:
        result = self.cli("status", "--json")
        return result.returncode, json.loads(result.stdout)

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['--otlp-http-port']}"


@pytest.fixture
def telegram() -> Iterator[BotAPI]:
    api = BotAPI(TOKEN)
    yield api
    api.close()


@pytest.fixture
def stack(tmp_path: Path, telegram: BotAPI) -> Iterator[Stack]:
    for find in (binaries.collector_binary, binaries.prometheus_binary, binaries.alertmanager_binary):
        find()  # skip (fail in CI) with the build command when one is missing
    directory = tmp_path / "stack"
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS)), strict=True))
    token_file = tmp_path / "telegram_bot_token"
    token_file.write_text(TOKEN + "\n")
    rules = scaled_rules(tmp_path / "scaled" / "rules")
    am_config = scaled_alertmanager_config(tmp_path / "scaled" / "alertmanager.yml")
    instance = Stack(directory, ports, user_env(tmp_path))
    try:
        up = instance.cli(
            "up",
            *(f"{option}={port}" for option, port in ports.items()),
            f"--telegram-token-file={token_file}",
            f"--telegram-chat-id={CHAT_ID}",
            f"--telegram-api-url={telegram.url}",
            "--rules",
            *map(str, rules),
            f"--alertmanager-config={am_config}",
            "--evaluation-interval=1s",
        )
        assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"
        yield instance
    finally:
        instance.cli("down")  # whatever happened: no process may outlive the test


def bot_env(stack: Stack, workdir: Path) -> dict[str, str]:
    return {
        **stack.env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.otlp_http_url,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "BOTWATCH_JOURNAL": str(workdir / "bot-fallback.sqlite"),  # the bot's own, unused with an endpoint
    }


def run_demo(stack: Stack, workdir: Path) -> ManagedProcess:
    """``botwatch demo`` as a live bot sending to the stack, owned by this test (killed if pytest dies)."""
    env = bot_env(stack, workdir)
    demo = ManagedProcess(
        "botwatch-demo",
        [
            sys.executable,
            "-m",
            "botwatch.cli",
            "demo",
            "--rate=8",
            "--conversations=1200",
            "--faults=crm_errors=1",
            f"--service-name={SERVICE}",
        ],
        log_path=workdir / "demo.log",
        env=env,
    )
    demo.start()
    return demo


def test_stack_up_demo_alert_status_down(stack: Stack, telegram: BotAPI, tmp_path: Path) -> None:
    # up: detached processes, each leading its own session, all healthy
    code, status = stack.status()
    assert code == 0, status
    by_name = {c["name"]: c for c in status["components"]}
    started = {name for name, c in by_name.items() if c["status"] not in ("missing", "compose")}
    assert {"collector", "prometheus", "alertmanager"} <= started
    assert all(by_name[name]["status"] == "healthy" for name in started), status
    assert {"collector", "prometheus", "alertmanager", "journal"} <= started
    for name in ("loki", "tempo", "grafana"):  # AGPL: compose only, and the status says so
        assert by_name[name]["status"] == "compose"
        assert "docker compose" in by_name[name]["note"]
    journal = Path(by_name["journal"]["urls"]["journal"])
    assert journal == tmp_path / "xdg" / "botwatch" / "journal.sqlite"  # what the audit commands read by default
    assert by_name["collector"]["urls"]["OTLP HTTP"] == stack.otlp_http_url
    pids = {name: by_name[name]["pid"] for name in started}
    for name, pid in pids.items():
        assert os.getsid(pid) == pid, f"{name} does not lead its own session"
    human = stack.cli("status")
    assert human.returncode == 0
    assert "healthy" in human.stdout and "compose only" in human.stdout and "docker compose" in human.stdout

    # demo with every lead creation failing: the owner's Telegram gets the alert
    demo = run_demo(stack, tmp_path)
    try:
        message = telegram.wait_for(lambda text: LEAD_FAILING in text and "ТРЕВОГА" in text, timeout=75)
    except AssertionError:
        logs = "\n".join(
            f"--- {log} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in sorted(stack.directory.glob("*/*.log"))
        )
        raise AssertionError(f"no {LEAD_FAILING} in Telegram; demo log:\n{demo.log_tail(15)}\n{logs}") from None
    finally:
        demo.stop()
    assert str(message["chat_id"]) == CHAT_ID

    # a second bot and the gateway send through the same collector; everything lands in one journal
    second = botwatch(
        "demo", "--conversations=12", "--seed=3", "--service-name=stack-second-bot", env=bot_env(stack, tmp_path)
    )
    assert second.returncode == 0, second.stderr
    gateway_conversation = send_through_gateway(stack, tmp_path)
    audit_with_no_flags(stack, gateway_conversation)

    # still all healthy after the traffic
    code, status = stack.status()
    assert code == 0 and status["healthy"], status
    ticks = {name: start_ticks(pid) for name, pid in pids.items()}

    # down: nothing left, by pid, by process group, and by any mention of the stack directory
    down = stack.cli("down")
    assert down.returncode == 0, down.stderr
    for name, pid in pids.items():
        assert not (is_alive(pid) and start_ticks(pid) == ticks[name]), f"{name} (pid {pid}) still running"
        assert group_members(pid) == [], f"process group of {name} not empty: {group_members(pid)}"
    assert processes_mentioning(str(stack.directory)) == []
    assert list((stack.directory / "run").glob("*.pid")) == []
    code, status = stack.status()
    assert code != 0 and all(c["status"] in ("stopped", "missing", "compose") for c in status["components"])


def send_through_gateway(stack: Stack, workdir: Path) -> str:
    """``botwatch gateway`` sending to the stack's collector takes one event; its conversation id."""
    (port,) = free_ports(1)
    env = {**bot_env(stack, workdir), "BOTWATCH_GATEWAY_TOKEN": GATEWAY_TOKEN, "OTEL_SERVICE_NAME": "stack-gateway"}
    gateway = ManagedProcess(
        "botwatch-gateway",
        [sys.executable, "-m", "botwatch.cli", "gateway", f"--port={port}"],
        log_path=workdir / "gateway.log",
        env=env,
    )
    gateway.start()
    try:
        gateway.wait_until(lambda: port_open(port), 30, what="listening")
        event = {
            "event_id": "stack-evt-1",
            "timestamp": datetime.now(UTC).isoformat(),
            "channel": "telegram",
            "session_id": "stack-gateway-session",
            "text": "Сколько стоит маникюр?",
            "intent": "цена",
            "confidence": 0.91,
            "bot_response": "Маникюр стоит 1500 ₽",
            "latency_ms": 900,
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/events",
            data=json.dumps(event).encode(),
            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["results"][0]["status"] == "accepted", answer
    finally:
        gateway.stop()  # the gateway flushes what it accepted on the way out
    return "stack-gateway-session"


def audit_with_no_flags(stack: Stack, gateway_session: str) -> None:
    """kpi, sessions, replay and export read the stack's journal with no flags and no BOTWATCH_JOURNAL."""

    def conversations() -> set[str]:
        result = botwatch("sessions", "--json", "--limit=1000", env=stack.env)
        assert result.returncode == 0, result.stderr
        return {json.loads(line)["conversation_id"] for line in result.stdout.splitlines() if line.strip()}

    deadline = time.monotonic() + 60
    found: set[str] = set()
    while time.monotonic() < deadline:  # the collector batches for up to a second, then retries
        found = conversations()
        if any(gateway_session in c for c in found) and len(found) >= 12 + 2:
            break
        time.sleep(1)
    gateway_conversation = next((c for c in found if gateway_session in c), None)
    assert gateway_conversation is not None, sorted(found)[:20]
    assert len(found) >= 14, len(found)  # the second bot's 12, the gateway's and the live demo's

    kpi = botwatch("kpi", "--json", env=stack.env)
    assert kpi.returncode == 0, kpi.stderr
    assert json.loads(kpi.stdout)["conversations"] >= len(found)
    # Spans and log records travel in separate collector batches: the text may land a moment after the span.
    deadline = time.monotonic() + 30
    while True:
        replay = botwatch("replay", gateway_conversation, env=stack.env)
        assert replay.returncode == 0, replay.stderr
        if ("Сколько стоит маникюр?" in replay.stdout and "1500" in replay.stdout) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "Сколько стоит маникюр?" in replay.stdout and "1500" in replay.stdout, replay.stdout
    # --source stack is for compose's Loki and Tempo; next to a native stack it says where the data is
    stack_source = botwatch("sessions", "--source=stack", env={**stack.env, "BOTWATCH_STACK_DIR": str(stack.directory)})
    assert stack_source.returncode == 2
    assert "native stack keeps traces and logs in the journal" in stack_source.stderr, stack_source.stderr
    export = botwatch("export", "--format=jsonl", env=stack.env)
    assert export.returncode == 0, export.stderr
    exported = {json.loads(line).get("session_id") for line in export.stdout.splitlines() if line.strip()}
    assert found <= exported


def test_status_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    result = botwatch("stack", "status", "--dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "botwatch stack up" in result.stdout


def test_up_refuses_a_taken_port_and_leaves_nothing_running(tmp_path: Path) -> None:
    binaries.collector_binary()
    binaries.prometheus_binary()
    directory = tmp_path / "stack"
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS)), strict=True))
    blocker = ManagedProcess(
        "port-blocker",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(ports["--prometheus-port"])],
        log_path=tmp_path / "blocker.log",
    )
    blocker.start()
    try:
        deadline = time.monotonic() + 10
        while not port_open(ports["--prometheus-port"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        result = botwatch("stack", "up", "--dir", str(directory), *(f"{o}={p}" for o, p in ports.items()))
        assert result.returncode != 0
        assert f"{ports['--prometheus-port']} (Prometheus)" in result.stderr
        assert processes_mentioning(str(directory)) == []
    finally:
        blocker.stop()
