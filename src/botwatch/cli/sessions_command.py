"""``botwatch sessions``: conversations matching filters, newest first, a page at a time."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from botwatch import semconv
from botwatch.audit.audit_errors import NotFound, UsageError
from botwatch.audit.roles import add_role_option, resolve_role
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, add_tenant_option, parse_duration
from botwatch.cli.source_options import add_source_options, audit_errors, human, source_from
from botwatch.journal.session_queries import SessionFilter, SessionSummary
from botwatch.terminal import json_line, printable


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sessions",
        help=SUMMARIES["sessions"],
        description="Conversations started in the period that match every given filter, newest first, paged.",
    )
    parser.add_argument("--since", type=parse_duration, default=timedelta(days=7), help="period, e.g. 24h, 7d (7d)")
    parser.add_argument("--channel", help="only this channel (whatsapp, telegram, …)")
    parser.add_argument("--intent", help="with a turn recognised as this intent")
    parser.add_argument("--variant", help="only this scenario variant")
    parser.add_argument(
        "--low-confidence", action="store_true", help=f"with an intent below {semconv.LOW_CONFIDENCE:g} confidence"
    )
    parser.add_argument(
        "--sla-breached", action="store_true", help=f"with a reply slower than {semconv.SLA_SECONDS:g} s"
    )
    parser.add_argument("--crm-failed", action="store_true", help="with a failed CRM call")
    parser.add_argument("--limit", type=int, default=20, help="conversations per page (20)")
    parser.add_argument("--page", type=int, default=1, help="page number, 1 = newest (1)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    add_source_options(parser)
    add_tenant_option(parser)
    add_role_option(parser)  # a summary has no client text or hash: both roles see the same
    parser.set_defaults(run=run)


@audit_errors
def run(args: argparse.Namespace) -> int:
    if args.limit < 1 or args.page < 1:
        raise UsageError("--limit and --page must be at least 1")
    resolve_role(args.role)  # a refused role is a usage error here too
    flt = SessionFilter(
        channel=args.channel,
        intent=args.intent,
        variant=args.variant,
        low_confidence=args.low_confidence,
        sla_breached=args.sla_breached,
        crm_failed=args.crm_failed,
    )
    until = datetime.now(UTC)
    source = source_from(args)
    try:
        found = source.sessions(flt, until - args.since, until, limit=args.limit, offset=(args.page - 1) * args.limit)
    finally:
        source.close()
    if not found:
        where = "on this page" if args.page > 1 else f"in the last {human(args.since)}"
        raise NotFound(f"no conversations match {_describe(flt)} {where} ({source.description})")
    if args.json:
        for summary in found:
            print(json_line({**asdict(summary), "started": _time(summary).isoformat()}))
    else:
        print(format_sessions(found))
        if len(found) == args.limit:
            print(f"\npage {args.page} · next: add --page {args.page + 1}")
    return EXIT_OK


def _time(summary: SessionSummary) -> datetime:
    return datetime.fromtimestamp(summary.started_ns // 1000 / 1e6, UTC)


def _describe(flt: SessionFilter) -> str:
    parts = [f"{k.replace('_', '-')}={v}" for k, v in asdict(flt).items() if v not in (None, False)]
    return "the filters " + ", ".join(parts) if parts else "(no filters)"


def format_sessions(found: list[SessionSummary]) -> str:
    header = ("started (UTC)", "conversation", "channel", "turns", "min conf", "over SLA", "CRM failed", "funnel")
    rows = [
        (
            f"{_time(s):%Y-%m-%d %H:%M}",
            printable(s.conversation_id),
            printable(s.channel or "—"),
            str(s.turns),
            "—" if s.min_confidence is None else f"{s.min_confidence:.2f}",
            str(s.sla_breaches),
            str(s.crm_failures),
            printable(", ".join(st for st in s.stages if st != semconv.CONVERSATION_STARTED) or "—"),
        )
        for s in found
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {3, 4, 5, 6}
    lines = []
    for row in [header, *rows]:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
