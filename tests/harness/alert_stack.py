"""The end-to-end alert stack with time scaled down: rules and Alertmanager config copies, the processes, a live bot.

Used by tests/alerts/test_alerts_e2e.py, the stack and tenants tests and benchmarks/alert_latency.py,
benchmarks/tenants_load.py. ``TOKEN`` is the alert bot's token the local Telegram Bot API accepts.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from telegram_api import BotAPI

import botwatch
from botwatch.demo.faults import parse_faults
from botwatch.demo.runner import Progress, run_demo
from harness import binaries
from harness.alertmanager import CONFIG as ALERTMANAGER_CONFIG
from harness.alertmanager import Alertmanager
from harness.capture import OtlpCapture
from harness.collector import Collector, CollectorPorts
from harness.ports import free_ports
from harness.prometheus import Prometheus

TOKEN = "123456789:AAbotwatch-test-token"
RULES_DIR = binaries.REPO / "alerts" / "rules"
SCALE = 30
EVALUATION_INTERVAL = "1s"
METRIC_EXPORT_INTERVAL_MS = 1000
SERVICE = "e2e-alerts-salon-bot"
RATE = 8.0  # conversations per second
HEALTHY_S = 45.0
FAULT_S = 50.0
RECOVERY_MAX_S = 70.0
FAULTS = "slow_llm=1@{start:g}s-{end:g}s,low_confidence=1@{start:g}s-{end:g}s,crm_errors=1@{start:g}s-{end:g}s"
FAULTS_TEXT = FAULTS.format(start=HEALTHY_S, end=HEALTHY_S + FAULT_S)
LOW_CONFIDENCE = "BotwatchLowIntentConfidence"
SLA_BREACH = "BotwatchResponseSLABreach"
LEAD_FAILING = "BotwatchLeadCreationFailing"
ALERT_FAULT = {LOW_CONFIDENCE: "low_confidence", SLA_BREACH: "slow_llm", LEAD_FAILING: "crm_errors"}
CHANNELS = {"whatsapp", "telegram", "instagram", "web"}
CRM_ERROR_TYPES = {"QUERY_LIMIT_EXCEEDED", "ERROR_CORE", "INTERNAL_SERVER_ERROR", "timeout"}
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
RANGE_WINDOW = re.compile(rf"\[({_DURATION}(?::(?:{_DURATION})?)?)\]")  # [5m], subquery [1h:1m] or [1h:]


def duration_ms(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``500ms``) in milliseconds."""
    parts = re.findall(r"(\d+)(ms|[smhdwy])", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_MS[u] for n, u in parts)


def format_duration(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale_duration(text: str, factor: float) -> str:
    return format_duration(round(duration_ms(text) / factor))


def scale_ranges(promql: str, factor: float) -> str:
    """Divide every range window (and subquery step) in ``promql`` by ``factor``."""

    def shrink(match: re.Match[str]) -> str:
        return "[" + ":".join(scale_duration(p, factor) if p else "" for p in match.group(1).split(":")) + "]"

    return RANGE_WINDOW.sub(shrink, promql)


def scaled_rules(dest: Path, factor: float = SCALE, source: Path = RULES_DIR) -> list[Path]:
    """Copies of ``source/*.yml`` with ``for:`` and range windows divided by ``factor``; nothing else changes."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                rule["expr"] = scale_ranges(str(rule["expr"]), factor)
                for key in ("for", "keep_firing_for"):
                    if key in rule:
                        rule[key] = scale_duration(rule[key], factor)
                for name, text in rule.get("annotations", {}).items():
                    rule["annotations"][name] = scale_ranges(text, factor)
        copy = dest / path.name
        copy.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        written.append(copy)
    return written


def scaled_alertmanager_config(dest: Path, factor: float = SCALE, source: Path = ALERTMANAGER_CONFIG) -> Path:
    """A copy of alertmanager.yml with every route's group_wait/group_interval/repeat_interval divided by ``factor``."""
    config = yaml.safe_load(source.read_text())
    config["templates"] = [str((source.parent / t).resolve()) for t in config.get("templates", [])]
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                route[key] = scale_duration(route[key], factor)
        routes.extend(route.get("routes", []))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return dest


def scaled_stack_up(
    work: Path,
    ports: dict[str, int],
    *,
    token_file: Path,
    chat_id: int,
    telegram_url: str,
    tenants_file: Path,
    journal: Path,
    factor: float = SCALE,
) -> list[str]:
    """The arguments of ``botwatch stack up`` in ``work/stack`` with the rules and Alertmanager timings ÷ ``factor``,
    alerts to a local Bot API, the tenants file and the journal: one set-up for the tenants test and benchmark."""
    return [
        "stack",
        "up",
        "--dir",
        str(work / "stack"),
        *(f"{option}={port}" for option, port in ports.items()),
        f"--telegram-token-file={token_file}",
        f"--telegram-chat-id={chat_id}",
        f"--telegram-api-url={telegram_url}",
        "--rules",
        *map(str, scaled_rules(work / "scaled" / "rules", factor)),
        f"--alertmanager-config={scaled_alertmanager_config(work / 'scaled' / 'alertmanager.yml', factor)}",
        "--evaluation-interval=1s",
        f"--tenants={tenants_file}",
        f"--journal={journal}",
    ]


def route_group_wait(config: dict[str, Any], severity: str) -> str:
    """group_wait of the route an alert of ``severity`` takes (first matching sub-route, else the root)."""
    root = config["route"]
    for route in root.get("routes", []):
        if f'severity="{severity}"' in route.get("matchers", []):
            return str(route.get("group_wait", root["group_wait"]))
    return str(root["group_wait"])


class TimedTelegram(BotAPI):
    """The local Telegram Bot API with the alert bot's ``TOKEN``."""

    def __init__(self) -> None:
        super().__init__(TOKEN)

    def received(self) -> list[Message]:
        """The accepted messages, each with when it was accepted."""
        return [Message(call.at, str(call.params.get("text", ""))) for call in self.accepted()]


_HEAD = re.compile(r"^(?:🔴|✅) <b>(?P<alertname>[^<]+)</b> — (?P<status>ТРЕВОГА|РЕШЕНО)")
_STATUS = {"ТРЕВОГА": "FIRING", "РЕШЕНО": "RESOLVED"}  # the template's Russian words (botwatch.telegram.word)


@dataclass(frozen=True)
class Message:
    at: float  # time.monotonic() when the fake Telegram accepted it
    text: str

    @property
    def alertname(self) -> str:
        match = _HEAD.match(self.text)
        return match["alertname"] if match else ""

    @property
    def status(self) -> str:
        match = _HEAD.match(self.text)
        return _STATUS[match["status"]] if match else ""

    @property
    def severity(self) -> str:
        match = re.search(r"Статус: (?:тревога|решено) · (\w+)", self.text)
        return match[1] if match else ""


@dataclass
class AlertStack:
    telegram: TimedTelegram
    alertmanager: Alertmanager
    prometheus: Prometheus
    collector: Collector
    rule_files: list[Path]
    alertmanager_config: Path
    scale: float

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.log_tail(15)}"
            for p in (self.collector.process, self.prometheus.process, self.alertmanager.process)
        )


@contextmanager
def alert_stack(workdir: Path, scale: float = SCALE) -> Iterator[AlertStack]:
    """Telegram fake, Alertmanager, Prometheus and collector with the scaled copies; stopped on exit."""
    am_binary = binaries.alertmanager_binary()
    prometheus_binary = binaries.prometheus_binary()
    collector_binary = binaries.collector_binary()
    prometheus_port, alertmanager_port, *collector_ports = free_ports(6)
    ports = CollectorPorts(*collector_ports)
    rules = scaled_rules(workdir / "scaled" / "rules", scale)
    am_config = scaled_alertmanager_config(workdir / "scaled" / "alertmanager.yml", scale)
    with ExitStack() as stack:
        telegram = TimedTelegram()
        stack.callback(telegram.close)
        capture = OtlpCapture()  # Tempo and Loki stand-in; this test reads only metrics
        stack.callback(capture.stop)
        alertmanager = Alertmanager(
            am_binary,
            workdir / "alertmanager",
            alertmanager_port,
            telegram_api_url=telegram.url,
            config=am_config,
            bot_token=TOKEN,
        )
        stack.callback(alertmanager.stop)
        alertmanager.start()
        prometheus = Prometheus(
            prometheus_binary,
            workdir / "prometheus",
            prometheus_port,
            targets={"otelcol": [f"127.0.0.1:{ports.telemetry}"]},
            alertmanagers=[alertmanager.target],
            interval=EVALUATION_INTERVAL,
            rule_files=[str(path) for path in rules],
        )
        stack.callback(prometheus.stop)
        prometheus.start()
        collector = Collector(
            collector_binary,
            workdir / "collector",
            traces_url=capture.url,
            logs_url=capture.url,
            remote_write_url=prometheus.remote_write_url,
            ports=ports,
        )
        stack.callback(collector.stop)
        collector.start()
        yield AlertStack(telegram, alertmanager, prometheus, collector, rules, am_config, scale)


class _Stop(Exception):
    pass


@dataclass
class LiveBot:
    """The demo simulator as a live bot in a thread, sending through the SDK to ``otlp_url``.

    Notes when its clock started and, per fault, when the first affected turn
    (or lead.create) was played; :meth:`stop` ends it early.
    """

    otlp_url: str
    workdir: Path
    faults: str
    rate: float = RATE
    max_seconds: float = 600.0
    service_name: str = SERVICE
    seed: int = 5
    started: float | None = None  # time.monotonic() of the simulator's t = 0
    first_fault: dict[str, float] = field(default_factory=dict)
    last: Progress | None = None
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _patch: pytest.MonkeyPatch = field(default_factory=pytest.MonkeyPatch)

    def start(self) -> LiveBot:
        self._patch.setenv("OTEL_METRIC_EXPORT_INTERVAL", str(METRIC_EXPORT_INTERVAL_MS))
        self._patch.setenv("BOTWATCH_SECRET_FILE", str(self.workdir / "secret"))
        self._patch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
        botwatch.init(service_name=self.service_name, endpoint=self.otlp_url)
        self._thread = threading.Thread(target=self._run, name="live-bot", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            conversations = int(self.rate * self.max_seconds)
            run_demo(
                conversations, self.rate, parse_faults(self.faults), self.seed, self._progress, progress_interval_s=0
            )
        except _Stop:
            pass
        except BaseException as error:  # noqa: BLE001 - reported by the test, not lost in the thread
            self.error = error

    def _progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now - progress.elapsed_s
        tally = progress.tally
        for fault, hit in (
            ("slow_llm", tally.turns_over_sla),
            ("low_confidence", tally.low_confidence_turns),
            ("crm_errors", tally.lead_failures),
        ):
            if hit and fault not in self.first_fault:
                self.first_fault[fault] = now
        self.last = progress
        if self._stop.is_set():
            raise _Stop

    def at(self, simulator_seconds: float) -> float:
        """time.monotonic() of a moment on the simulator's clock."""
        assert self.started is not None, "the bot has not started"
        return self.started + simulator_seconds

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        try:
            botwatch.shutdown()
        finally:
            self._patch.undo()


def wait_until(condition: Callable[[], bool], deadline: float, tick: Callable[[], None] | None = None) -> bool:
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        if tick is not None:
            tick()
        time.sleep(0.2)
