"""``botwatch stack``: the backends run natively, detached, from one directory.

Layout of the stack directory (default ~/.local/share/botwatch/stack):

    stack.json          what runs: components, ports, URLs, what is missing
    run/<name>.pid      pid and start time of each process (each leads its own group)
    <name>/             the component's rendered config, data and <name>.log

Whatever is installed or built runs: collector, Prometheus, Alertmanager,
and botwatch's journal receiver.  Loki, Tempo and Grafana are AGPL and run
only as their images under docker compose: natively the collector's Tempo and
Loki exporters point at the journal receiver, so traces and logs land in the
embedded journal (one for every bot and the gateway) that the audit commands
read with no flags.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botwatch import env
from botwatch.journal.journal_settings import journal_path
from botwatch.stack import binaries, tenant_rules
from botwatch.stack.alertmanager_process import Alertmanager
from botwatch.stack.collector_process import Collector, CollectorPorts
from botwatch.stack.journal_receiver import JournalReceiverProcess
from botwatch.stack.pidfiles import PidRecord
from botwatch.stack.ports import port_open
from botwatch.stack.processes import ManagedProcess, ProcessFailed, http_ok
from botwatch.stack.prometheus_process import RULES_GLOB, Prometheus
from botwatch.tenants import Tenants, TenantsError
from botwatch.tenants import load as load_tenants

DEFAULT_DIR = env.stack_dir({})  # without BOTWATCH_STACK_DIR
STATE_FILE = env.STACK_STATE_FILE
METRICS_RETENTION = "365d"
ORDER = ("alertmanager", "prometheus", "journal", "collector")  # start order; stopped in reverse


@dataclass(frozen=True)
class Ports:
    otlp_grpc: int = 4317
    otlp_http: int = 4318
    collector_health: int = 13133
    collector_telemetry: int = 8888
    prometheus: int = 9090
    alertmanager: int = 9093
    journal: int = 4319


@dataclass(frozen=True)
class Telegram:
    token_file: Path | None = None
    chat_id: str | None = None
    api_url: str | None = None  # None: the public Bot API, as alerts/alertmanager.yml says


@dataclass
class Options:
    directory: Path = DEFAULT_DIR
    journal: Path | None = None  # None: $BOTWATCH_JOURNAL or the per-user journal, what the audit commands read
    ports: Ports = field(default_factory=Ports)
    telegram: Telegram = field(default_factory=Telegram)
    rule_files: list[str] | None = None  # None: alerts/rules/*.yml
    alertmanager_config: Path | None = None  # None: alerts/alertmanager.yml
    evaluation_interval: str | None = None  # None: deploy/prometheus.yml's
    start_timeout: float = 60.0
    tenants: Path | None = None  # the tenants file: a route per tenant, per-tenant targets in the rules


class StackError(RuntimeError):
    pass


@dataclass
class Component:
    """One line of ``botwatch stack status``: saved in stack.json by ``up``."""

    name: str
    state: str  # "started", "missing" (not installed) or "compose" (runs only under docker compose)
    urls: dict[str, str] = field(default_factory=dict)
    health_url: str = ""
    log: str = ""
    note: str = ""
    pid: int | None = None


# -- state ----------------------------------------------------------------------
def _state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def load_state(directory: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(_state_path(directory).read_text())
    except (OSError, ValueError):
        return None
    return state


def _save_state(directory: Path, components: list[Component], started_at: float) -> None:
    state = {"directory": str(directory), "started_at": started_at, "components": [asdict(c) for c in components]}
    path = _state_path(directory)
    path.write_text(json.dumps(state, indent=2) + "\n")


def pid_records(directory: Path) -> list[PidRecord]:
    records = [PidRecord.read(p) for p in sorted((directory / "run").glob("*.pid"))]
    return [r for r in records if r is not None]


def running_records(directory: Path) -> list[PidRecord]:
    return [r for r in pid_records(directory) if r.is_ours()]


# -- up -------------------------------------------------------------------------
def _redaction_key(directory: Path) -> str:
    configured = env.REDACTION_KEY.text()
    if configured:
        return configured
    path = directory / "collector" / "redaction.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def _check_ports_free(ports: dict[str, int]) -> None:
    taken = [f"{port} ({what})" for what, port in ports.items() if port_open(port)]
    if taken:
        raise StackError(
            "ports in use: " + ", ".join(taken) + " — another stack or service runs there; "
            "stop it, or choose other ports (botwatch stack up --help)"
        )


class _Starter:
    """Starts components one by one, recording each (pid file, stack.json) before waiting for it."""

    def __init__(self, directory: Path, timeout: float, progress: Callable[[str], None]) -> None:
        self.directory = directory
        self.timeout = timeout
        self.progress = progress
        self.started_at = time.time()
        self.components: list[Component] = []
        self.processes: list[ManagedProcess] = []

    def launch(self, server: Any, component: Component) -> None:
        self.progress(f"starting {component.name} ...")
        process: ManagedProcess = server.process
        process.start()
        assert process.pid is not None
        PidRecord.of(component.name, process.pid).write(self.directory / "run")
        component.pid, component.log = process.pid, str(process.log_path)
        self.processes.append(process)
        self.add(component)
        process.wait_until(lambda: http_ok(component.health_url), self.timeout, what="healthy")

    def add(self, component: Component) -> None:
        self.components.append(component)
        _save_state(self.directory, self.components, self.started_at)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for record in pid_records(self.directory):
            record.stop()
            (self.directory / "run" / f"{record.name}.pid").unlink(missing_ok=True)


def _find_binaries() -> dict[str, Path | None]:
    return {
        "collector": binaries.collector_binary(),
        "prometheus": binaries.prometheus_binary(),
        "alertmanager": binaries.alertmanager_binary(),
    }


def _ports_needed(found: dict[str, Path | None], ports: Ports) -> dict[str, int]:
    wanted = {
        "collector": {
            "OTLP gRPC": ports.otlp_grpc,
            "OTLP HTTP": ports.otlp_http,
            "collector health": ports.collector_health,
            "collector telemetry": ports.collector_telemetry,
        },
        "prometheus": {"Prometheus": ports.prometheus},
        "alertmanager": {"Alertmanager": ports.alertmanager},
    }
    needed = {what: port for name, group in wanted.items() if found[name] for what, port in group.items()}
    return {**needed, "journal receiver": ports.journal}


def _start_alertmanager(
    starter: _Starter, binary: Path | None, options: Options, tenants: Tenants | None = None
) -> list[str]:
    """Start Alertmanager if built; return the targets Prometheus should alert."""
    if binary is None:
        note = binaries.HOW_TO_GET["alertmanager"] + "; alerts are evaluated by Prometheus but not delivered"
        starter.add(Component("alertmanager", "missing", note=note))
        return []
    tg = options.telegram
    am = Alertmanager(
        binary,
        starter.directory / "alertmanager",
        options.ports.alertmanager,
        telegram_api_url=tg.api_url,
        token_file=tg.token_file,
        chat_id=tg.chat_id,
        config=options.alertmanager_config or binaries.CONFIG_ALERTMANAGER,
        detached=True,
        tenants=tenants,
    )
    note = (
        f"Telegram: chat {tg.chat_id}, token from {tg.token_file}"
        if tg.token_file
        else "Telegram: not configured (alerts are kept, not sent): --telegram-token-file and --telegram-chat-id"
    )
    if tenants is not None:
        note += f"; {len(tenants)} tenant(s) routed to their owners' chats"
    starter.launch(am, Component("alertmanager", "started", {"UI": am.url}, f"{am.url}/-/ready", note=note))
    return [am.target]


def _rule_files(options: Options, tenants: Tenants | None, directory: Path) -> list[str] | None:
    """The rule files, plus the tenants' targets rendered beside Prometheus's config (StackError if invalid)."""
    if tenants is None:
        return options.rule_files
    rules = options.rule_files or [str(RULES_GLOB)]
    try:
        rendered = tenant_rules.write(tenants, directory / "prometheus", rules)
    except TenantsError as error:
        raise StackError(str(error)) from None
    return [*rules, str(rendered)]


def _start_prometheus(
    starter: _Starter, binary: Path, options: Options, alertmanagers: list[str], rule_files: list[str] | None
) -> Prometheus:
    prometheus = Prometheus(
        binary,
        starter.directory / "prometheus",
        options.ports.prometheus,
        targets={
            "otelcol": [f"127.0.0.1:{options.ports.collector_telemetry}"],
            **({"alertmanager": alertmanagers} if alertmanagers else {}),
        },
        alertmanagers=alertmanagers,
        interval=options.evaluation_interval,
        rule_files=rule_files,
        extra_args=[f"--storage.tsdb.retention.time={METRICS_RETENTION}"],
        detached=True,
    )
    urls = {"UI": prometheus.url, "remote write": prometheus.remote_write_url}
    starter.launch(prometheus, Component("prometheus", "started", urls, f"{prometheus.url}/-/ready"))
    return prometheus


def _start_journal(starter: _Starter, options: Options) -> str:
    """Start the journal receiver; return the URL the collector's Tempo and Loki exporters send to."""
    journal = journal_path(options.journal).resolve()
    receiver = JournalReceiverProcess(
        starter.directory / "journal",
        options.ports.journal,
        journal,
        detached=True,
        tenants=options.tenants.resolve() if options.tenants is not None else None,
    )
    note = f"traces and logs into {journal} (botwatch kpi / sessions / replay / export / report read it)"
    urls = {"OTLP HTTP": receiver.url, "journal": str(journal)}
    starter.launch(receiver, Component("journal", "started", urls, f"{receiver.url}/health", note=note))
    return receiver.url


def _start_collector(
    starter: _Starter, binary: Path, options: Options, remote_write_url: str, journal_url: str
) -> None:
    ports = options.ports
    collector = Collector(
        binary,
        starter.directory / "collector",
        traces_url=journal_url,  # collector/config.yaml unchanged: its Tempo and Loki exporters reach the journal
        logs_url=journal_url,
        remote_write_url=remote_write_url,
        ports=CollectorPorts(ports.otlp_grpc, ports.otlp_http, ports.collector_health, ports.collector_telemetry),
        extra_env={env.REDACTION_KEY.name: _redaction_key(starter.directory)},
        detached=True,
    )
    urls = {
        "OTLP gRPC": collector.otlp_grpc_endpoint,
        "OTLP HTTP": collector.otlp_http_url,
        "health": collector.health_url,
        "metrics": f"http://{collector.telemetry_target}/metrics",
    }
    starter.launch(collector, Component("collector", "started", urls, collector.health_url))


def up(options: Options, progress: Callable[[str], None] = print) -> list[Component]:
    """Start what is installed, detached; on any failure stop what was started and raise StackError."""
    directory = options.directory.resolve()
    if running_records(directory):
        raise StackError(f"a stack is already running from {directory}: botwatch stack down --dir {directory}")
    found = _find_binaries()
    for required in ("collector", "prometheus"):
        if found[required] is None:
            raise StackError(f"{required} not found: {binaries.HOW_TO_GET[required]}")
    _check_ports_free(_ports_needed(found, options.ports))
    try:
        tenants = load_tenants(options.tenants) if options.tenants is not None else None
    except TenantsError as error:
        raise StackError(str(error)) from None
    directory.mkdir(parents=True, exist_ok=True)
    rule_files = _rule_files(options, tenants, directory)
    for stale in (directory / "run").glob("*.pid"):
        stale.unlink()
    starter = _Starter(directory, options.start_timeout, progress)
    try:
        alertmanagers = _start_alertmanager(starter, found["alertmanager"], options, tenants)
        assert found["prometheus"] is not None and found["collector"] is not None
        prometheus = _start_prometheus(starter, found["prometheus"], options, alertmanagers, rule_files)
        journal_url = _start_journal(starter, options)
        _start_collector(starter, found["collector"], options, prometheus.remote_write_url, journal_url)
        for name in ("loki", "tempo", "grafana"):
            starter.add(Component(name, "compose", note=binaries.HOW_TO_GET[name]))
    except (ProcessFailed, OSError, RuntimeError) as error:
        starter.stop_all()
        raise StackError(str(error)) from error
    return starter.components


# -- down -----------------------------------------------------------------------
def down(directory: Path, progress: Callable[[str], None] = print, timeout: float = 15.0) -> list[str]:
    """Stop every recorded process group; return the names that would not stop."""
    directory = directory.resolve()
    records = {r.name: r for r in pid_records(directory)}
    names = [n for n in reversed(ORDER) if n in records] + [n for n in records if n not in ORDER]
    stuck = []
    for name in names:
        record = records[name]
        if record.is_ours():
            progress(f"stopping {name} (pid {record.pid}) ...")
        if record.stop(timeout):
            (directory / "run" / f"{name}.pid").unlink(missing_ok=True)
        else:
            stuck.append(name)
    return stuck


# -- status ---------------------------------------------------------------------
@dataclass(frozen=True)
class Health:
    component: Component
    status: str  # healthy, unhealthy, stopped, missing, compose

    @property
    def ok(self) -> bool:
        return self.status in ("healthy", "missing", "compose")


def status(directory: Path) -> tuple[dict[str, Any] | None, list[Health]]:
    directory = directory.resolve()
    state = load_state(directory)
    if state is None:
        return None, []
    records = {r.name: r for r in pid_records(directory)}
    result = []
    for raw in state["components"]:
        component = Component(**raw)
        if component.state in ("missing", "compose"):
            result.append(Health(component, component.state))
            continue
        record = records.get(component.name)
        if record is None or not record.is_ours():
            result.append(Health(component, "stopped"))
        elif http_ok(component.health_url, timeout=2.0):
            result.append(Health(component, "healthy"))
        else:
            result.append(Health(component, "unhealthy"))
    return state, result
