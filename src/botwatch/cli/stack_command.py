"""``botwatch stack up|down|status``: the backends natively, for machines without Docker."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from botwatch import env
from botwatch.cli.common import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, fail

ENV_DIR = env.STACK_DIR.name
ENV_TOKEN_FILE = env.TELEGRAM_TOKEN_FILE.name  # the same variables as botwatch report
ENV_CHAT_ID = env.TELEGRAM_CHAT_ID.name
ENV_API_URL = env.TELEGRAM_API_URL.name
ENV_TENANTS = env.TENANTS.name  # the tenants file (deploy/tenants.example.toml)
DISPLAY_ORDER = ["collector", "prometheus", "alertmanager", "journal", "loki", "tempo", "grafana"]
PORT_OPTIONS = {  # option -> (Ports field, help)
    "--otlp-grpc-port": ("otlp_grpc", "collector OTLP/gRPC"),
    "--otlp-http-port": ("otlp_http", "collector OTLP/HTTP"),
    "--collector-health-port": ("collector_health", "collector health check"),
    "--collector-telemetry-port": ("collector_telemetry", "collector's own metrics"),
    "--prometheus-port": ("prometheus", "Prometheus"),
    "--alertmanager-port": ("alertmanager", "Alertmanager"),
    "--journal-port": ("journal", "journal receiver OTLP/HTTP (traces and logs into the journal)"),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from botwatch.stack.launcher import DEFAULT_DIR, Ports

    parser = subparsers.add_parser(
        "stack",
        help="run the backends natively (collector, Prometheus, Alertmanager, journal): up, down, status",
        description=(
            "Run whatever of the stack is installed or built on this machine, detached, with the repo's "
            "configs and all data in one directory. Traces and logs land in the embedded journal, which "
            "kpi, sessions, replay, export and report read with no flags. Loki, Tempo and Grafana run only "
            "under docker compose."
        ),
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    default_dir = env.stack_dir()

    def add_dir(action: argparse.ArgumentParser) -> None:
        action.add_argument(
            "--dir", type=Path, default=default_dir, help=f"stack directory (${ENV_DIR}, default {DEFAULT_DIR})"
        )

    start = actions.add_parser("up", help="start the stack in the background and wait until it is healthy")
    add_dir(start)
    defaults = Ports()
    for option, (name, what) in PORT_OPTIONS.items():
        start.add_argument(
            option,
            type=int,
            dest=f"port_{name}",
            metavar="PORT",
            default=getattr(defaults, name),
            help=f"{what} ({getattr(defaults, name)})",
        )
    start.add_argument(
        "--telegram-token-file",
        type=Path,
        metavar="FILE",
        default=env.TELEGRAM_TOKEN_FILE.text(),
        help=f"file holding the bot token from @BotFather (${ENV_TOKEN_FILE}); without it no alert is sent",
    )
    start.add_argument(
        "--telegram-chat-id",
        metavar="ID",
        default=env.TELEGRAM_CHAT_ID.text(),
        help=f"chat to alert (${ENV_CHAT_ID})",
    )
    start.add_argument(
        "--telegram-api-url",
        metavar="URL",
        default=env.TELEGRAM_API_URL.text(),
        help=f"Bot API base URL (${ENV_API_URL}; default the public Bot API), e.g. a local Bot API server",
    )
    start.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="journal the collector's traces and logs go to (default: $BOTWATCH_JOURNAL or the per-user journal)",
    )
    start.add_argument("--rules", nargs="+", default=None, metavar="FILE", help="alert rule files (alerts/rules/*.yml)")
    start.add_argument("--alertmanager-config", type=Path, default=None, help="instead of alerts/alertmanager.yml")
    start.add_argument(
        "--tenants",
        type=Path,
        metavar="FILE",
        default=env.TENANTS.text(),
        help=f"tenants file (${ENV_TENANTS}): each tenant's alerts to its owner's chat, its own targets in the rules",
    )
    start.add_argument(
        "--evaluation-interval", default=None, help="scrape and rule evaluation interval (deploy/prometheus.yml's)"
    )
    start.add_argument(
        "--timeout", type=float, default=60.0, help="seconds each component may take to become healthy (60)"
    )
    start.set_defaults(run=run_up)

    stop = actions.add_parser("down", help="stop every process of the stack")
    add_dir(stop)
    stop.set_defaults(run=run_down)

    render = actions.add_parser(
        "render-tenants",
        help="write every config a tenants file gives, for compose (--out deploy/tenants)",
        description=(
            "Validate a tenants file and write into --out: alertmanager.yml (a receiver and route per tenant, on "
            "top of alerts/alertmanager.yml or --alertmanager-config), tenant_targets.yml (each tenant's targets "
            "as series), collector.yaml (bots log in as their tenant with the token token_env names, which must "
            "be set), loki-overrides.yaml (retention per tenant) and grafana/ (data sources, "
            "folders and dashboards per tenant). docker-compose.yml mounts deploy/tenants."
        ),
    )
    render.add_argument("tenants", type=Path, metavar="FILE", help="tenants file (TOML)")
    render.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write into")
    render.add_argument("--alertmanager-config", type=Path, default=None, help="instead of alerts/alertmanager.yml")
    render.set_defaults(run=run_render_tenants)

    show = actions.add_parser("status", help="health and URLs of each component; exit 1 unless all run healthy")
    add_dir(show)
    show.add_argument("--json", action="store_true", help="machine-readable")
    show.set_defaults(run=run_status)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    parser.set_defaults(run=usage)


def _say(message: str) -> None:
    print(f"botwatch stack: {message}", file=sys.stderr)


def run_up(args: argparse.Namespace) -> int:
    from botwatch.stack.launcher import Options, Ports, StackError, Telegram, up

    token_file = args.telegram_token_file
    if token_file is not None:
        token_file = Path(token_file)
        if not token_file.is_file() or not token_file.read_text().strip():
            return fail(f"stack: Telegram token file {token_file} is missing or empty", EXIT_USAGE)
        if not args.telegram_chat_id:
            return fail(f"stack: --telegram-token-file needs --telegram-chat-id (or ${ENV_CHAT_ID})", EXIT_USAGE)
    options = Options(
        directory=args.dir,
        journal=args.journal,
        ports=Ports(**{name: getattr(args, f"port_{name}") for name, _ in PORT_OPTIONS.values()}),
        telegram=Telegram(token_file, args.telegram_chat_id, args.telegram_api_url),
        rule_files=[str(Path(f).resolve()) for f in args.rules] if args.rules else None,
        alertmanager_config=args.alertmanager_config.resolve() if args.alertmanager_config else None,
        evaluation_interval=args.evaluation_interval,
        start_timeout=args.timeout,
        tenants=args.tenants.resolve() if args.tenants else None,
    )
    try:
        up(options, progress=_say)
    except StackError as error:
        return fail(f"stack: {error}", EXIT_NOT_FOUND)
    print_status(args.dir)
    print(f"\nstop it with: botwatch stack down --dir {args.dir}")
    return EXIT_OK


def run_render_tenants(args: argparse.Namespace) -> int:
    from botwatch.stack.tenant_render import render_tenants
    from botwatch.tenants import TenantsError

    try:
        tenants, written = render_tenants(args.tenants, args.out, args.alertmanager_config)
    except (TenantsError, ValueError) as error:
        return fail(f"stack: {error}", EXIT_USAGE)
    except OSError as error:
        return fail(f"stack: cannot write into {args.out}: {error.strerror or error}", EXIT_USAGE)
    top = sorted({p.relative_to(args.out).parts[0] for p in written})
    _say(f"{len(tenants)} tenant(s): wrote {', '.join(top)} into {args.out}")
    return EXIT_OK


def run_down(args: argparse.Namespace) -> int:
    from botwatch.stack.launcher import down, pid_records

    if not pid_records(args.dir.resolve()):
        _say(f"nothing to stop in {args.dir}")
        return EXIT_OK
    stuck = down(args.dir, progress=_say)
    if stuck:
        return fail(f"stack: still running: {', '.join(stuck)} (see {args.dir / 'run'})", EXIT_NOT_FOUND)
    _say("stopped; data kept in " + str(args.dir))
    return EXIT_OK


def print_status(directory: Path, as_json: bool = False) -> bool:
    from botwatch.stack.launcher import status

    state, health = status(directory)
    if state is None:
        if as_json:
            print(json.dumps({"directory": str(directory), "running": False, "components": []}))
        else:
            print(f"no stack in {directory}: botwatch stack up --dir {directory}")
        return False
    health = sorted(
        health, key=lambda h: DISPLAY_ORDER.index(h.component.name) if h.component.name in DISPLAY_ORDER else 99
    )
    all_ok = all(h.ok for h in health) and any(h.status == "healthy" for h in health)
    if as_json:
        components = [
            {
                "name": h.component.name,
                "status": h.status,
                "pid": h.component.pid,
                "urls": h.component.urls,
                "log": h.component.log,
                "note": h.component.note,
            }
            for h in health
        ]
        print(json.dumps({"directory": str(directory), "healthy": all_ok, "components": components}, indent=2))
        return all_ok
    started = datetime.fromtimestamp(state["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    print(f"botwatch stack in {directory} (started {started})")
    for h in health:
        c = h.component
        status_text = {"missing": "not installed", "compose": "compose only"}.get(h.status, h.status)
        pid = f"pid {c.pid}" if c.pid and h.status not in ("missing", "compose") else ""
        print(f"  {c.name:<13} {status_text:<14} {pid}")
        for label, url in c.urls.items():
            print(f"      {label:<12} {url}")
        if c.note:
            print(f"      {c.note}")
        if h.status in ("stopped", "unhealthy") and c.log:
            print(f"      log: {c.log}")
    return all_ok


def run_status(args: argparse.Namespace) -> int:
    return EXIT_OK if print_status(args.dir, args.json) else EXIT_NOT_FOUND
