"""What every subcommand shares: durations, the journal, errors without tracebacks."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from botwatch.terminal import printable

if TYPE_CHECKING:
    from botwatch.journal import Journal

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_DATA = 3  # the journal (or a source) cannot be read

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` -> timedelta (argparse type)."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    value = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return timedelta(seconds=value)


def add_journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="journal file (default: $BOTWATCH_JOURNAL or ~/.local/share/botwatch/journal.sqlite)",
    )


def add_tenant_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tenant",
        type=tenant_id,
        default=None,
        help="only this tenant's records (botwatch.tenant: init(tenant=) or the gateway's tenant)",
    )


def tenant_id(text: str) -> str:
    """A tenant id (argparse type), as ``init(tenant=)`` accepts it."""
    from botwatch.settings import resolve_tenant

    try:
        return str(resolve_tenant(text, {}))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def open_journal(path: Path | None, tenant: str | None = None) -> Journal:
    """The journal for reading (only ``tenant``'s records if given); a missing one gets a hint."""
    from botwatch.journal import Journal, JournalError, journal_path

    resolved = journal_path(path)
    if not resolved.exists():
        raise JournalError(
            resolved, "there is no journal here yet", "Run `botwatch demo` or a bot with botwatch.init() first."
        )
    return Journal(resolved, tenant=tenant)


def fail(message: str, code: int) -> int:
    print(f"botwatch: {printable(message)}", file=sys.stderr)
    return code
