"""``botwatch kpi``: the owner's numbers for a period, as a table or JSON.

The window is ``[until - since, until)``; ``--since`` is a duration (7d) or a
moment (ISO 8601, as the report's page states its own window), ``--until``
a moment (default now). Both the table and the JSON say which services and
demo runs the window covers.  With ``--prometheus-url`` (or
``BOTWATCH_PROMETHEUS_URL``) they add the alerts' MTTR over the same window,
from Prometheus's ``ALERTS`` history (``botwatch.audit.mttr``).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botwatch import env
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import (
    EXIT_DATA,
    EXIT_OK,
    EXIT_USAGE,
    add_journal_option,
    add_tenant_option,
    fail,
    open_journal,
    parse_duration,
)
from botwatch.journal import format_kpi_table, kpi_to_json
from botwatch.terminal import printable


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment (argparse type); one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a moment like 2026-12-06T00:00+03:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_since(text: str) -> timedelta | datetime:
    """A duration (7d) or an ISO 8601 moment."""
    try:
        return parse_duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        return parse_moment(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration like 7d nor a moment like 2026-12-01"
        ) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kpi",
        help=SUMMARIES["kpi"],
        description="Key numbers of the bot for a period, computed from the journal.",
    )
    parser.add_argument(
        "--since", type=parse_since, default=timedelta(days=7), help="period (24h, 7d) or start moment (ISO 8601) (7d)"
    )
    parser.add_argument("--until", type=parse_moment, default=None, help="end moment, ISO 8601 (now)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--prometheus-url",
        default=None,
        help="also the alerts' MTTR (firing → resolved) from this Prometheus (default: $BOTWATCH_PROMETHEUS_URL)",
    )
    add_journal_option(parser)
    add_tenant_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    until = args.until or datetime.now(UTC)
    period = until - args.since if isinstance(args.since, datetime) else args.since
    if period <= timedelta(0):
        return fail("--since must be before --until", EXIT_USAGE)
    with open_journal(args.journal, args.tenant) as journal:
        kpi = journal.kpi(period, until)
    data = kpi_to_json(kpi)
    if args.tenant is not None:
        data["tenant"] = args.tenant
    prometheus = args.prometheus_url or env.PROMETHEUS_URL.text()
    if prometheus:
        from botwatch.audit.audit_errors import SourceError

        try:
            data.update(_alerts(prometheus, kpi.since, kpi.until, args.tenant))
        except SourceError as error:
            return fail(str(error), EXIT_DATA)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        if args.tenant is not None:
            print(f"Tenant: {printable(args.tenant)}")
        print(format_kpi_table(kpi))
        if prometheus:
            mttr = "—" if data["alerts_mttr_s"] is None else f"{data['alerts_mttr_s']:g} s"
            print(f"  Alerts resolved / MTTR (firing → resolved): {data['alerts_resolved']} / {mttr}")
    return EXIT_OK


def _alerts(url: str, since: datetime, until: datetime, tenant: str | None = None) -> dict[str, Any]:
    from botwatch.audit.mttr import incidents, mttr

    found = incidents(url, since, until, tenant=tenant)  # a tenant's alerts only (botwatch_tenant)
    value = mttr(found)
    return {"alerts_resolved": len(found), "alerts_mttr_s": None if value is None else round(value.total_seconds(), 1)}
