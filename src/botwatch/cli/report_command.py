"""``botwatch report``: the owner's week as one HTML page (Russian by default), optionally sent to Telegram.

With a tenants file, ``--tenant ID`` is one business's report (its language,
its targets, sent to its owner's chat and topic) and ``--all-tenants`` makes
one per business: each owner's chat gets only its own numbers, the managers'
chat the manager's view (``audit.roles``: no conversation quoted).  One
tenant's failure (a chat Telegram does not know, an unreadable journal) is
its own line and does not stop the others; the exit code says whether all went.
With ``--telegram`` and an ``[integrator] chat_id`` in the tenants file, the
integrator's chat then gets one message: how many were sent, which tenants
failed (ids only, no business's numbers, no client's data).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from botwatch import env
from botwatch.audit.audit_errors import NotFound, SourceError, UsageError
from botwatch.audit.roles import ENV_ROLE, MANAGER, OWNER, add_role_option, resolve_role
from botwatch.audit.source import SourceOptions
from botwatch.audit.telegram_sender import (
    ENV_API_URL,
    ENV_CHAT_ID,
    ENV_TOKEN_FILE,
    TelegramTarget,
    send_document,
    send_message,
)
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, parse_duration, tenant_id
from botwatch.cli.source_options import add_source_options, audit_errors, human, source_from
from botwatch.cli.stack_command import ENV_TENANTS
from botwatch.journal import JournalError, journal_path
from botwatch.private_files import private_dirs, replace_privately
from botwatch.terminal import printable

if TYPE_CHECKING:
    from botwatch.audit.report import ReportData
    from botwatch.tenants import Chat, TenantSpec

LANGS = ("ru", "en")
DEFAULT_OUT = Path("report.html")
DEFAULT_DIR = Path("reports")  # --all-tenants without --telegram
EXIT_SOME_FAILED = 1  # --all-tenants: at least one tenant's report was not written or not sent
MANAGERS_COPY = {"ru": "для менеджеров", "en": "managers' copy"}
TELEGRAM_LIMIT = 4096


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help=SUMMARIES["report"],
        description=(
            "The week in the owner's words: conversations, bookings, no-shows, slow replies, messages the bot did "
            "not understand, leads lost on the way to the CRM — against the targets and the week before, a bar per "
            "calendar day, where clients are lost, what a change did, what to do next. Days are whole days in "
            "BOTWATCH_TIMEZONE (Europe/Moscow by default)."
        ),
        epilog=(
            f"--telegram uses {ENV_TOKEN_FILE}, {ENV_CHAT_ID} and {ENV_API_URL} (Bot API base URL); with --tenant or "
            f"--all-tenants the chats come from the tenants file (--tenants or ${ENV_TENANTS}). --all-tenants exits "
            f"{EXIT_SOME_FAILED} if any tenant's report failed (the others are still written and sent); the tenants "
            "file's [integrator] chat_id gets the run's tally (sent / failed, tenant ids only)."
        ),
    )
    parser.add_argument(
        "--since", type=parse_duration, default=timedelta(days=7), help="how many calendar days, ending today (7d)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"HTML file to write ({DEFAULT_OUT}); with --all-tenants a directory, one file per tenant ({DEFAULT_DIR})",
    )
    parser.add_argument("--lang", choices=LANGS, default=None, help="language of the report (ru; a tenant's own)")
    parser.add_argument(
        "--telegram", action="store_true", help="also send a short summary and the file to the owner's Telegram chat"
    )
    tenants = parser.add_argument_group("tenants")
    which = tenants.add_mutually_exclusive_group()
    which.add_argument(
        "--tenant", type=tenant_id, default=None, help="only this tenant's report, in its language, by its targets"
    )
    which.add_argument(
        "--all-tenants",
        action="store_true",
        help="one report per tenant of the tenants file; --telegram: each owner's chat its own, managers' the "
        "manager's view",
    )
    tenants.add_argument("--tenants", type=Path, default=None, help=f"the tenants file (${ENV_TENANTS})")
    add_role_option(parser)
    add_source_options(parser)
    parser.set_defaults(run=run)


def _progress(step: str) -> None:
    """One status line on a terminal (long journals take a while); nothing when stderr is a file."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[Kreport: {step}…")
        sys.stderr.flush()


def _clear_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")


@audit_errors
def run(args: argparse.Namespace) -> int:
    role = resolve_role(args.role)
    if args.all_tenants:
        return _run_all(args, role)
    if args.tenants is not None and args.tenant is None:
        raise UsageError("--tenants goes with --tenant ID or --all-tenants")
    tz = _timezone()
    spec = _tenant(args, args.tenant) if args.tenant is not None else None
    lang = args.lang or (spec.language if spec else "ru")
    target = _single_target(spec, role) if args.telegram else None  # a bad setup fails before the work
    data = _collect(args, tz, spec)
    if data is None:
        raise NotFound(f"nothing recorded in the last {human(args.since)} ({_where(args)}); no report written")
    out = args.out or DEFAULT_OUT
    page = _write(out, data, lang, role)
    print(f"отчёт записан: {out} ({len(page.encode()) // 1024} КиБ)")
    if target is not None:
        _send(target, data, page, lang, out.name, role)
        topic = f", тема {target.thread_id}" if target.thread_id else ""
        print(f"отправлен в Telegram, чат {target.chat_id}{topic}")
    return EXIT_OK


def _single_target(spec: TenantSpec | None, role: str) -> TelegramTarget:
    if spec is None:
        return TelegramTarget.from_env()
    chat = spec.owner if role == OWNER else spec.managers
    if chat is None:
        raise UsageError(f"tenant {spec.id} has no managers' chat: add [tenants.managers] chat_id to the tenants file")
    return TelegramTarget.bot_from_env().to(chat.chat_id, chat.thread_id)


@dataclass
class _Tally:
    sent: int = 0
    written: int = 0
    empty: int = 0
    failed: list[str] = field(default_factory=list)


def _run_all(args: argparse.Namespace, role: str) -> int:
    if role == MANAGER:
        raise UsageError(f"{ENV_ROLE}=manager here: --all-tenants makes the owners' reports; not available")
    if SourceOptions.resolve(args.source).kind != "journal":
        raise UsageError("--all-tenants reads the journal (leave out --source stack): it is partitioned by tenant")
    path = _tenants_path(args)
    entries = _entries(path)
    integrator = _integrator(path) if args.telegram else None
    tz = _timezone()
    journal = journal_path(args.journal)
    if not journal.exists():  # every tenant would fail alike: one error instead
        raise JournalError(journal, "there is no journal here yet", "Run the bots with botwatch.init() first.")
    bot = TelegramTarget.bot_from_env() if args.telegram else None
    out_dir = args.out if args.out is not None else (None if args.telegram else DEFAULT_DIR)
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--out {out_dir}: with --all-tenants a directory (one file per tenant), not a file")
        try:
            private_dirs(out_dir)
        except OSError as error:
            raise UsageError(f"cannot create {out_dir}: {error.strerror or error}") from error
    tally = _Tally()
    for n, (name, spec) in enumerate(entries, 1):
        head = f"{n}/{len(entries)} {printable(name)}"
        try:
            if isinstance(spec, str):
                raise UsageError(spec)
            line = _one(args, spec, tz, bot, out_dir, tally)
        except (UsageError, SourceError, JournalError, OSError) as error:
            tally.failed.append(name)
            text = error.strerror or str(error) if isinstance(error, OSError) else str(error)
            print(f"{head}: ошибка: {printable(text)}", file=sys.stderr, flush=True)
            continue
        print(f"{head}: {line}", flush=True)
    done = f"отправлено: {tally.sent}" if bot is not None else f"записано: {tally.written} в {out_dir}"
    parts = [f"итого отчётов: {len(entries)}", done]
    if tally.empty:
        parts.append(f"без обращений: {tally.empty}")
    if tally.failed:
        parts.append(f"с ошибкой: {len(tally.failed)} ({', '.join(printable(f) for f in tally.failed)})")
    print("; ".join(parts))
    if bot is not None and integrator is not None:
        try:
            send_message(bot.to(integrator.chat_id, integrator.thread_id), _tally_message(len(entries), tally, tz))
        except SourceError as error:
            where = f"чат интегратора {integrator.chat_id}" + (
                f" (тема {integrator.thread_id})" if integrator.thread_id else ""
            )
            print(f"{where}: ошибка: {printable(str(error))}", file=sys.stderr, flush=True)
            return EXIT_SOME_FAILED
        print(f"итог отправлен в чат интегратора {integrator.chat_id}")
    return EXIT_SOME_FAILED if tally.failed else EXIT_OK


def _tally_message(total: int, tally: _Tally, tz: tzinfo) -> str:
    """The integrator's summary of the run (Telegram HTML): how many owners got their report, whose failed.
    Tenant ids only, no business's numbers and no client's data."""
    import html
    from datetime import datetime

    lines = [
        f"<b>botwatch: недельные отчёты владельцам, {datetime.now(tz):%d.%m.%Y}</b>",
        f"отправлено: {tally.sent} из {total}",
    ]
    if tally.empty:
        lines.append(f"без обращений за период (не отправлено): {tally.empty}")
    if tally.failed:
        names = [html.escape(printable(name), quote=False) for name in tally.failed]
        shown = names
        while len(", ".join(shown)) > TELEGRAM_LIMIT // 2:  # a thousand failures: the first ones and a count
            shown = shown[: len(shown) // 2]
        more = f" и ещё {len(names) - len(shown)}" if len(shown) < len(names) else ""
        lines.append(f"с ошибкой: {len(names)} — {', '.join(shown)}{more}")
        lines.append("Подробности — в выводе команды botwatch report --all-tenants.")
    else:
        lines.append("ошибок нет")
    return "\n".join(lines)


def _one(
    args: argparse.Namespace,
    spec: TenantSpec,
    tz: tzinfo,
    bot: TelegramTarget | None,
    out_dir: Path | None,
    tally: _Tally,
) -> str:
    """One tenant's reports, written and sent; the line that says what happened."""
    data = _collect(args, tz, spec)
    if data is None:
        tally.empty += 1
        return "нет обращений за период, отчёт не " + ("отправлен" if bot else "записан")
    from botwatch.audit.report_html import render
    from botwatch.audit.roles import report_data

    lang = args.lang or spec.language
    roles = (OWNER, MANAGER) if spec.managers else (OWNER,)
    pages = {role: render(report_data(data, role), lang) for role in roles}
    name = f"{spec.id}.html"
    if out_dir is not None:
        for role, page in pages.items():
            _write_page(out_dir / (name if role == OWNER else f"{spec.id}.managers.html"), page)
        tally.written += 1
    if bot is None:
        return f"записано: {out_dir / name if out_dir else name}"
    for role, page in pages.items():
        chat = spec.owner if role == OWNER else spec.managers
        assert chat is not None  # a managers' page is made only for a managers' chat
        try:
            _send(bot.to(chat.chat_id, chat.thread_id), data, page, lang, name, role)
        except SourceError as error:
            raise SourceError(f"{_chat_name(role, chat)}: {error}") from error
    tally.sent += 1
    return "отправлено" + (" (владельцу и менеджерам)" if spec.managers else "")


def _chat_name(role: str, chat: Chat) -> str:
    who = "чат владельца" if role == OWNER else "чат менеджеров"
    return f"{who} {chat.chat_id}" + (f" (тема {chat.thread_id})" if chat.thread_id else "")


def _collect(args: argparse.Namespace, tz: tzinfo, spec: TenantSpec | None) -> ReportData | None:
    """The week (None if nobody wrote), of ``spec``'s tenant only and by its targets if given."""
    from botwatch.audit.report import collect  # charts: the `report` extra (matplotlib)
    from botwatch.audit.targets import TARGETS, for_tenant

    scoped = argparse.Namespace(**{**vars(args), "tenant": spec.id if spec else None})
    source = source_from(scoped)
    try:
        targets = for_tenant(spec.targets) if spec else TARGETS
        data = collect(source, args.since, tz, progress=_progress, targets=targets)
    finally:
        source.close()
        _clear_progress()
    if data.current.conversations == 0 and data.current.turns == 0:
        return None
    return data


def _write(out: Path, data: ReportData, lang: str, role: str) -> str:
    from botwatch.audit.report_html import render
    from botwatch.audit.roles import report_data

    page = render(report_data(data, role), lang)
    _write_page(out, page)
    return page


def _write_page(out: Path, page: str) -> None:
    try:
        with replace_privately(out) as file:  # whole or not at all, 0600: it quotes conversations
            file.write(page.encode("utf-8"))
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from error


def _send(target: TelegramTarget, data: ReportData, page: str, lang: str, name: str, role: str) -> None:
    from botwatch.audit.report_summary import summary
    from botwatch.audit.roles import report_data

    send_message(target, summary(report_data(data, role), lang))
    first, last = data.days[0].day, data.days[-1].day
    caption = f"botwatch {first:%d.%m} – {last:%d.%m.%Y}" + (f" · {MANAGERS_COPY[lang]}" if role == MANAGER else "")
    send_document(target, name, page.encode("utf-8"), caption)


def _timezone() -> tzinfo:
    from botwatch.integrations.business_settings import business_timezone

    try:
        return business_timezone()
    except ValueError as error:
        raise UsageError(str(error)) from error


def _where(args: argparse.Namespace) -> str:
    journal = f"journal {args.journal}" if args.journal else "the journal"
    return journal + (f", tenant {args.tenant}" if args.tenant else "")


def _tenants_path(args: argparse.Namespace) -> Path:
    path = args.tenants or env.TENANTS.path()
    if path is None:
        raise UsageError(
            f"--tenant and --all-tenants need the tenants file: --tenants PATH or ${ENV_TENANTS} "
            "(an example: deploy/tenants.example.toml)"
        )
    if not path.is_file():
        raise UsageError(f"tenants file {path}: no such file (--tenants or ${ENV_TENANTS})")
    return path


def _tenant(args: argparse.Namespace, tenant: str) -> TenantSpec:
    """``tenant`` of the tenants file; UsageError naming the known ones if it is not there."""
    from botwatch.tenants import TenantsError, load

    try:
        return load(_tenants_path(args)).get(tenant)
    except TenantsError as error:
        raise UsageError(str(error)) from error


def _integrator(path: Path) -> Chat | None:
    """The tenants file's ``[integrator]`` chat, read apart from the tenants so a broken tenant does not hide it."""
    import tomllib

    from botwatch.tenants import TenantsError, integrator_chat

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        return integrator_chat(document, path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # _entries has said what is wrong with the file
    except TenantsError as error:
        raise UsageError(str(error)) from error


def _entries(path: Path) -> list[tuple[str, TenantSpec | str]]:
    """Every tenant of the file; one whose entry is wrong is its error, so the others still get their report."""
    import tomllib

    from botwatch.tenants import TenantsError, load, parse

    try:
        return [(spec.id, spec) for spec in load(path)]
    except TenantsError as whole:
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8")).get("tenants")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            raise UsageError(str(whole)) from whole
        if not isinstance(tables, list) or not tables:
            raise UsageError(str(whole)) from whole
    entries: list[tuple[str, TenantSpec | str]] = []
    for number, table in enumerate(tables, 1):
        name = table.get("id") if isinstance(table, dict) and isinstance(table.get("id"), str) else f"#{number}"
        try:
            spec = parse({"tenants": [table]}, path).tenants[0]
        except TenantsError as error:  # parsed alone, the entry is number 1: give it its place in the file
            entries.append((str(name), str(error).replace("tenants entry 1:", f"tenants entry {number}:", 1)))
            continue
        if any(spec.id == seen for seen, _ in entries):
            entries.append((spec.id, f"tenants file {path}: tenant {spec.id}: id: listed twice"))
            continue
        entries.append((spec.id, spec))
    return entries
