"""``botwatch report``: the owner's weekly report as HTML with charts, optionally sent to Telegram."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from botwatch.audit.errors import NotFound, UsageError
from botwatch.audit.options import add_source_options, audit_errors, human, source_from
from botwatch.audit.telegram import ENV_API_URL, ENV_CHAT_ID, ENV_TOKEN_FILE, TelegramTarget, send_document
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, parse_duration
from botwatch.private_files import replace_privately


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help=SUMMARIES["report"],
        description=(
            "Conversion, no-shows, SLA, confidence, lead failures and the worst conversations of the period, "
            "each with a chart and the change since the period before."
        ),
        epilog=f"--telegram uses {ENV_TOKEN_FILE}, {ENV_CHAT_ID} and {ENV_API_URL} (Bot API base URL).",
    )
    parser.add_argument("--since", type=parse_duration, default=timedelta(days=7), help="period, e.g. 7d, 30d (7d)")
    parser.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write (report.html)")
    parser.add_argument("--telegram", action="store_true", help="also send the file to the owner's Telegram chat")
    add_source_options(parser)
    parser.set_defaults(run=run)


@audit_errors
def run(args: argparse.Namespace) -> int:
    from botwatch.audit.report import collect, render  # charts: the `report` extra (matplotlib)

    target = TelegramTarget.from_env() if args.telegram else None  # a bad setup fails before the work
    source = source_from(args)
    try:
        data = collect(source, args.since)
    finally:
        source.close()
    if data.current.conversations == 0 and data.current.turns == 0:
        raise NotFound(f"nothing recorded in the last {human(args.since)} ({data.source}); no report written")
    page = render(data)
    try:
        with replace_privately(args.out) as out:  # whole or not at all, 0600: it quotes conversations
            out.write(page.encode("utf-8"))
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from error
    print(f"report written: {args.out} ({len(page.encode()) // 1024} KiB)")
    if target is not None:
        since = data.until - data.period
        caption = f"botwatch report {since:%d.%m} – {data.until:%d.%m.%Y}"
        send_document(target, args.out.name, page.encode("utf-8"), caption)
        print(f"sent to Telegram chat {target.chat_id}")
    return EXIT_OK
