"""``botwatch report``: the owner's week as one HTML page (Russian by default), optionally sent to Telegram."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from botwatch.audit.errors import NotFound, UsageError
from botwatch.audit.telegram import (
    ENV_API_URL,
    ENV_CHAT_ID,
    ENV_TOKEN_FILE,
    TelegramTarget,
    send_document,
    send_message,
)
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, parse_duration
from botwatch.cli.source_options import add_source_options, audit_errors, human, source_from
from botwatch.private_files import replace_privately

LANGS = ("ru", "en")


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
        epilog=f"--telegram uses {ENV_TOKEN_FILE}, {ENV_CHAT_ID} and {ENV_API_URL} (Bot API base URL).",
    )
    parser.add_argument(
        "--since", type=parse_duration, default=timedelta(days=7), help="how many calendar days, ending today (7d)"
    )
    parser.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write (report.html)")
    parser.add_argument("--lang", choices=LANGS, default="ru", help="language of the report (ru)")
    parser.add_argument(
        "--telegram", action="store_true", help="also send a short summary and the file to the owner's Telegram chat"
    )
    add_source_options(parser)
    parser.set_defaults(run=run)


def _progress(step: str) -> None:
    """One status line on a terminal (long journals take a while); nothing when stderr is a file."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[Kreport: {step}…")
        sys.stderr.flush()


@audit_errors
def run(args: argparse.Namespace) -> int:
    from botwatch.audit.report import collect  # charts: the `report` extra (matplotlib)
    from botwatch.audit.report_html import render
    from botwatch.audit.report_summary import summary
    from botwatch.integrations.settings import business_timezone

    try:
        tz = business_timezone()
    except ValueError as error:
        raise UsageError(str(error)) from error
    target = TelegramTarget.from_env() if args.telegram else None  # a bad setup fails before the work
    source = source_from(args)
    try:
        data = collect(source, args.since, tz, progress=_progress)
    finally:
        source.close()
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
    if data.current.conversations == 0 and data.current.turns == 0:
        raise NotFound(f"nothing recorded in the last {human(args.since)} ({source.description}); no report written")
    page = render(data, args.lang)
    try:
        with replace_privately(args.out) as out:  # whole or not at all, 0600: it quotes conversations
            out.write(page.encode("utf-8"))
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from error
    print(f"report written: {args.out} ({len(page.encode()) // 1024} KiB)")
    if target is not None:
        send_message(target, summary(data, args.lang))
        first, last = data.days[0].day, data.days[-1].day
        caption = f"botwatch {first:%d.%m} – {last:%d.%m.%Y}"
        send_document(target, args.out.name, page.encode("utf-8"), caption)
        print(f"sent to Telegram chat {target.chat_id}")
    return EXIT_OK
