"""``botwatch export``: every event of a period as CSV, xlsx or JSON lines, streamed, with a progress bar."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TextIO

from botwatch.audit.audit_errors import NotFound, UsageError
from botwatch.audit.export import EventRows
from botwatch.audit.roles import MANAGER, add_role_option, export_rows, resolve_role
from botwatch.audit.writers import DEFAULT_DELIMITER, DELIMITERS, WRITERS
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, add_tenant_option, parse_duration
from botwatch.cli.source_options import add_source_options, audit_errors, human, source_from
from botwatch.private_files import replace_privately

_BAR = 28


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help=SUMMARIES["export"],
        description=(
            "One row per event (a client message with the bot's turn, an outbound message, a funnel stage) in "
            "the webhook gateway's event shape, phones masked. Streamed: memory stays small for any period. "
            "CSV and xlsx open in a spreadsheet as text: a cell that could start a formula (= + - @ tab CR) "
            "gets a ' in front in CSV, and is a typed string cell in xlsx. Files are created 0600."
        ),
    )
    parser.add_argument("--since", type=parse_duration, default=timedelta(days=7), help="period, e.g. 24h, 7d (7d)")
    parser.add_argument(
        "--format", choices=sorted(WRITERS), default="csv", help="csv, xlsx (needs botwatch[xlsx]) or jsonl (csv)"
    )
    parser.add_argument(
        "--delimiter",
        choices=sorted(DELIMITERS),
        default=None,
        help=f"CSV separator ({DEFAULT_DELIMITER}: what Excel in a Russian locale expects; decimals then use a comma)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output file (default: standard output)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_source_options(parser)
    add_tenant_option(parser)
    add_role_option(parser)
    parser.set_defaults(run=run)


class ExportProgress:
    """A progress line on stderr: rewritten in place on a terminal, every few seconds in a log."""

    def __init__(self, stream: TextIO, total: int | None, enabled: bool) -> None:
        self.stream, self.total, self.enabled = stream, total, enabled
        self.tty = stream.isatty()
        self.started = self._last = time.monotonic()

    def update(self, records: int, rows: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < (0.2 if self.tty else 5.0)):
            return
        self._last = now
        rate = records / max(now - self.started, 1e-9)
        if self.total:
            share = min(records / self.total, 1.0)
            filled = int(share * _BAR)
            eta = (self.total - records) / rate if rate else 0.0
            head = f"[{'#' * filled}{'.' * (_BAR - filled)}] {records:,}/{self.total:,} records"
            tail = f" · ETA {eta:.0f} s" if not final else f" · {now - self.started:.1f} s"
        else:
            head, tail = f"{records:,} records", "" if not final else f" · {now - self.started:.1f} s"
        line = f"{head} · {rows:,} rows · {rate:,.0f}/s{tail}".replace(",", " ")
        self.stream.write(("\r\x1b[2K" + line + ("\n" if final else "")) if self.tty else line + "\n")
        self.stream.flush()


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[BinaryIO]:
    """Standard output, or the file written whole or not at all and private (0600)."""
    if path is None:
        sys.stdout.flush()
        yield sys.stdout.buffer
        return
    try:
        with replace_privately(path) as out:
            yield out
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from error


@audit_errors
def run(args: argparse.Namespace) -> int:
    if args.delimiter is not None and args.format != "csv":
        raise UsageError("--delimiter applies to --format csv only")
    role = resolve_role(args.role)
    options: dict[str, object] = {"for_terminal": args.out is None and sys.stdout.isatty()}
    if args.format == "csv":
        options["delimiter"] = args.delimiter or DEFAULT_DELIMITER
    until = datetime.now(UTC)
    since = until - args.since
    source = source_from(args)
    try:
        progress = ExportProgress(sys.stderr, source.count_log_lines(since, until), not args.quiet)
        rows = 0
        with _output(args.out) as out:
            writer = WRITERS[args.format](out, **options)
            client_phone = (lambda _conversation: None) if role == MANAGER else source.client_phone
            events = EventRows(source.log_lines(since, until), client_phone)
            for row in export_rows(events, role):
                writer.write(row)
                rows += 1
                if rows % 2048 == 0:
                    progress.update(events.records_read, rows)
            writer.close()
            progress.update(events.records_read, rows, final=True)
    finally:
        source.close()
    if rows == 0:
        raise NotFound(f"nothing recorded in the last {human(args.since)} ({source.description}); the export is empty")
    return EXIT_OK
