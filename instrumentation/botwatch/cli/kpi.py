"""``botwatch kpi``: the owner's numbers for a period, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, add_journal_option, open_journal, parse_duration
from botwatch.journal import format_kpi_table, kpi_to_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kpi",
        help=SUMMARIES["kpi"],
        description="Key numbers of the bot for a period, computed from the journal.",
    )
    parser.add_argument("--since", type=parse_duration, default=timedelta(days=7), help="period, e.g. 24h, 7d (7d)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_journal_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_journal(args.journal) as journal:
        kpi = journal.kpi(args.since)
    print(json.dumps(kpi_to_json(kpi), ensure_ascii=False, indent=2) if args.json else format_kpi_table(kpi))
    return EXIT_OK
