"""``botwatch insights --source stack``: next to a native stack, and on a compose stack's Tempo.

Native (``botwatch stack up``): the stack's collector sends traces and logs to botwatch's journal receiver,
which writes the journal; ``--source stack`` reads that journal, found through the stack's state
(``BOTWATCH_STACK_DIR``).  The planted-problem simulator (``broken_price``) plays its bots through the
stack's collector, and insights on the stack must name the planted step first, exactly as insights on that
journal file does.

Compose: the planted run goes through our collector to the OTLP capture standing where Tempo stands, and
test_audit_stack's Tempo stand-in answers trace-by-id and the TraceQL searches over what the collector
delivered (Tempo is AGPL: never built or run here).  Insights fetches the conversation traces and must name
the planted step first.  Without either, ``--source stack`` says what is supported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import binaries
from harness.ports import PORT_OPTIONS, free_ports
from loki_tempo_api import FakeLokiTempo

import botwatch
from botwatch import semconv
from botwatch.audit import stack_source
from botwatch.audit.source import SourceOptions
from botwatch.demo.faults import parse_faults
from botwatch.demo.runner import run_demo

pytestmark = [pytest.mark.stack, pytest.mark.slow]

CONVERSATIONS = 1200
SERVICE = "insights-stack-salon-bot"


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    for find in (binaries.collector_binary, binaries.prometheus_binary, binaries.alertmanager_binary):
        find()  # skip (fail in CI) with the build command when one is missing
    home = tmp_path_factory.mktemp("insights-stack")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env = {
        **clean,
        "XDG_DATA_HOME": str(home / "xdg"),
        "BOTWATCH_SECRET_FILE": str(home / "secret"),
        "BOTWATCH_STACK_DIR": str(home / "stack"),
    }
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS)), strict=True))
    try:
        up = cli("stack", "up", *(f"{option}={port}" for option, port in ports.items()), env=env)
        assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"
        status = json.loads(cli("stack", "status", "--json", env=env).stdout)
        yield env, {c["name"]: c for c in status["components"]}
    finally:
        cli("stack", "down", env=env)


def test_insights_on_the_native_stack_read_its_journal(stack, tmp_path):
    env, components = stack
    journal = Path(components["journal"]["urls"]["journal"])
    bot = {
        **env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": components["collector"]["urls"]["OTLP HTTP"],
        "BOTWATCH_JOURNAL": str(tmp_path / "bot-fallback.sqlite"),  # unused: the bot sends to the collector
    }
    demo = cli(
        "demo", f"-n={CONVERSATIONS}", "--seed=21", "--faults=broken_price=0.9", f"--service-name={SERVICE}", env=bot
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert not (tmp_path / "bot-fallback.sqlite").exists()
    deadline = time.monotonic() + 120
    while True:  # the collector batches; the receiver writes what arrives
        kpi = cli("kpi", "--since=8d", "--json", f"--journal={journal}", env=env)
        done = kpi.returncode == 0 and json.loads(kpi.stdout)["conversations"] >= CONVERSATIONS
        if done or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert done, kpi.stdout + kpi.stderr
    time.sleep(3)  # the last log records travel in a later batch than their spans

    on_stack = cli("insights", "--source=stack", "--since=8d", "--json", env=env)
    assert on_stack.returncode == 0, on_stack.stderr
    assert f"reading the native stack's journal {journal}" in on_stack.stderr
    on_file = cli("insights", f"--journal={journal}", "--since=8d", "--json", "--quiet", env=env)
    assert on_file.returncode == 0, on_file.stderr
    stack_view, file_view = json.loads(on_stack.stdout), json.loads(on_file.stdout)
    assert stack_view["conversations"] == file_view["conversations"] == CONVERSATIONS
    assert stack_view["findings"] == file_view["findings"]
    first = stack_view["findings"][0]
    assert (first["step"], first["segment"]) == ("intent=price", "variant=B"), stack_view["findings"]
    text = cli("insights", "--source=stack", "--since=8d", "--quiet", env=env)
    assert text.returncode == 0 and "1. вопрос о цене, вариант сценария B" in text.stdout, text.stdout
    # --journal beside --source stack is a contradiction, said as one
    both = cli("insights", "--source=stack", f"--journal={tmp_path / 'other.sqlite'}", env=env)
    assert both.returncode == 2 and "leave out --journal" in both.stderr and not both.stdout


def test_without_a_stack_it_says_what_is_supported(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env = {**clean, "BOTWATCH_STACK_DIR": str(tmp_path / "no-stack")}
    out = cli("insights", "--source=stack", env=env)
    assert out.returncode == 2 and not out.stdout
    assert "no native stack is running here" in out.stderr and "--tempo-url" in out.stderr
    assert "botwatch stack up" in out.stderr
    env["BOTWATCH_SOURCE"] = "stack"  # the environment's choice, the same answer
    assert cli("insights", env=env).returncode == 2
    # Tempo alone is not a stack: the same three URLs every --source stack command takes
    out = cli("insights", "--source=stack", "--tempo-url=http://127.0.0.1:9", env=env)
    assert out.returncode == 2 and "--loki-url" in out.stderr and "--prometheus-url" in out.stderr
    dead = [f"--{name}-url=http://127.0.0.1:9" for name in ("tempo", "loki", "prometheus")]
    out = cli("insights", "--source=stack", *dead, env=env)
    assert out.returncode == 3 and not out.stdout and "Traceback" not in out.stderr, out.stderr


COMPOSE_SERVICE = "insights-compose-salon-bot"
COMPOSE_CONVERSATIONS = 800


class DeliveredTempo(FakeLokiTempo):
    """test_audit_stack's Tempo stand-in over a capture that no longer changes: its spans indexed once."""

    def spans(self):  # type: ignore[no-untyped-def]
        if not hasattr(self, "_spans"):
            self._spans = super().spans()
        return self._spans


@pytest.fixture(scope="module")
def compose_tempo(collector, otlp_capture, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BOTWATCH_SECRET_FILE", str(tmp_path_factory.mktemp("insights-compose") / "secret"))
    botwatch.init(service_name=COMPOSE_SERVICE, endpoint=collector.otlp_http_url)
    try:
        run_demo(COMPOSE_CONVERSATIONS, None, parse_faults("broken_price=0.9"), 21)
        botwatch.flush()
    finally:
        botwatch.shutdown()
        mp.undo()

    def conversations() -> int:
        return sum(
            1
            for s in otlp_capture.spans()
            if s["name"] == semconv.SPAN_CONVERSATION and s["resource"].get("service.name") == COMPOSE_SERVICE
        )

    otlp_capture.wait_for(lambda: conversations() >= COMPOSE_CONVERSATIONS, timeout=60, what="conversation spans")
    time.sleep(2)  # the last batches of turn spans
    server = DeliveredTempo(otlp_capture)
    yield server
    server.close()


def test_insights_on_a_compose_stack_read_tempo(compose_tempo, prometheus):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env = {
        **clean,
        "BOTWATCH_TEMPO_URL": compose_tempo.url,
        "BOTWATCH_LOKI_URL": compose_tempo.url,
        "BOTWATCH_PROMETHEUS_URL": prometheus.url,
    }
    args = ("insights", "--source=stack", "--since=8d", f"--service={COMPOSE_SERVICE}", "--history=0")
    out = cli(*args, "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert "Tempo: " in out.stderr  # progress while the traces are fetched
    view = json.loads(out.stdout)
    assert view["conversations"] == COMPOSE_CONVERSATIONS
    first = view["findings"][0]
    assert (first["step"], first["segment"]) == ("intent=price", "variant=B"), view["findings"]
    assert first["ci"][0] > first["rest_ci"][1]  # its interval clear of the rest's
    text = cli(*args, "--quiet", env=env)
    assert text.returncode == 0 and "1. вопрос о цене, вариант сценария B" in text.stdout, text.stdout


def test_tempo_days_past_the_search_limit_are_read_an_hour_at_a_time(compose_tempo, prometheus, monkeypatch):
    options = SourceOptions(
        "stack", None, compose_tempo.url, compose_tempo.url, prometheus.url, service=COMPOSE_SERVICE
    )
    until = datetime.now(UTC)
    since = until - timedelta(days=8)
    monkeypatch.setattr(stack_source, "SEARCH_LIMIT", 60)  # ~115 conversations a day, ~5 an hour
    source = stack_source.StackSource(options)
    try:
        staged, capped = source.stage_window(since, until)
        assert (len(staged.facts(since, until)), capped) == (COMPOSE_CONVERSATIONS, 0)
    finally:
        source.close()
    monkeypatch.setattr(stack_source, "SEARCH_LIMIT", 3)  # now hours fill the answer too: said, not hidden
    source = stack_source.StackSource(options)
    try:
        staged, capped = source.stage_window(since, until)
        assert capped > 0 and len(staged.facts(since, until)) < COMPOSE_CONVERSATIONS
    finally:
        source.close()
