"""``botwatch audit sample | weekly | label``: the owner's review loop."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import botwatch
from botwatch import semconv
from botwatch.audit.audit_errors import NotFound, UsageError
from botwatch.audit.review_label import Review, record_review
from botwatch.audit.roles import HIDDEN, OWNER, add_role_option, resolve_role
from botwatch.audit.sample import reservoir
from botwatch.audit.source import SourceOptions
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, add_tenant_option, parse_duration
from botwatch.cli.sessions_command import format_sessions
from botwatch.cli.source_options import add_source_options, audit_errors, human, source_from
from botwatch.journal import journal_path
from botwatch.journal.session_queries import LowConfidenceTurn
from botwatch.masking import cut
from botwatch.terminal import json_line, printable

PAGE_SIZE = 20  # turns per page of `audit weekly`
TEXT_CHARS = 80  # of a client's message on one line


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help=SUMMARIES["audit"],
        description="The owner's review of the bot: what to read, and the verdicts, recorded as telemetry.",
    )
    commands = parser.add_subparsers(title="audit commands", metavar="COMMAND")
    parser.set_defaults(run=lambda _args: _help(parser))

    sample = commands.add_parser("sample", help="random conversations for the monthly review")
    sample.add_argument("--n", type=int, default=10, help="how many (10)")
    sample.add_argument("--since", type=parse_duration, default=timedelta(days=30), help="period (30d)")
    sample.add_argument("--seed", type=int, default=None, help="the same seed picks the same conversations")
    sample.add_argument("--json", action="store_true", help="one JSON object per line")
    add_tenant_option(sample)
    add_source_options(sample)
    sample.set_defaults(run=run_sample)

    weekly = commands.add_parser(
        "weekly", help=f"turns whose intent was below {semconv.LOW_CONFIDENCE:g} confidence in the last week"
    )
    weekly.add_argument("--since", type=parse_duration, default=timedelta(days=7), help="period (7d)")
    weekly.add_argument("--page", type=int, default=1, help="which page of turns (1)")
    weekly.add_argument("--limit", type=int, default=PAGE_SIZE, help=f"turns per page; 0 for all ({PAGE_SIZE})")
    weekly.add_argument("--json", action="store_true", help="one JSON object per line (the same page)")
    add_tenant_option(weekly)
    add_role_option(weekly)
    add_source_options(weekly)
    weekly.set_defaults(run=run_weekly)

    label = commands.add_parser(
        "label",
        help="record a review of one turn: the recognised intent was correct, or wrong (and what it really was)",
        description=(
            "Records the review in the conversation's trace (a review span with a botwatch.review.labeled event), as a "
            "log record and on the botwatch.reviews counter. Telemetry goes where botwatch.init() sends it: "
            "OTEL_EXPORTER_OTLP_ENDPOINT (the collector) or else the journal. Use the bot's BOTWATCH_SECRET so "
            "the review lands in the same trace."
        ),
    )
    label.add_argument("conversation_id")
    label.add_argument("--turn", type=int, required=True, help="turn number (as replay shows it)")
    verdict = label.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--correct", action="store_true", help="the bot recognised the intent right")
    verdict.add_argument("--wrong", metavar="TRUE_INTENT", help="the bot was wrong; the client really meant this")
    label.add_argument("--service-name", default="botwatch-audit", help="service.name of the review telemetry")
    label.add_argument("--since", type=parse_duration, default=timedelta(days=30), help="stack: lookback (30d)")
    add_source_options(label)
    label.set_defaults(run=run_label)


@audit_errors
def run_sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError("--n must be at least 1")
    until = datetime.now(UTC)
    source = source_from(args)
    try:
        picked = reservoir(source.conversation_ids(until - args.since, until), args.n, args.seed)
        summaries = [s for s in (source.session(cid) for cid in picked) if s is not None]
    finally:
        source.close()
    if not summaries:
        raise NotFound(f"no conversations in the last {human(args.since)} ({source.description})")
    summaries.sort(key=lambda s: s.started_ns)
    if args.json:
        for s in summaries:
            print(json.dumps({"conversation_id": s.conversation_id, "started_ns": s.started_ns, "channel": s.channel}))
    else:
        print(format_sessions(summaries))
        print(f"\n{len(summaries)} conversations · read one: botwatch replay {printable(summaries[0].conversation_id)}")
    return EXIT_OK


@audit_errors
def run_weekly(args: argparse.Namespace) -> int:
    if args.page < 1 or args.limit < 0:
        raise UsageError("--page must be at least 1 and --limit at least 0 (0 prints every turn)")
    role = resolve_role(args.role)
    until = datetime.now(UTC)
    source = source_from(args)
    try:
        turns = source.low_confidence_turns(until - args.since, until)
    finally:
        source.close()
    if role != OWNER:  # a manager reads intents and confidences, not the client's words
        turns = [dataclasses.replace(t, text=None) for t in turns]
    pages = max(1, math.ceil(len(turns) / args.limit)) if args.limit else 1
    if args.page > pages:
        raise UsageError(f"--page {args.page}: there are {pages} pages of {args.limit} turns ({len(turns)} turns)")
    start = (args.page - 1) * args.limit
    page = turns[start : start + args.limit] if args.limit else turns
    if args.json:
        for t in page:
            print(json_line(t.__dict__))
        return EXIT_OK
    if not turns:
        print(f"No intents below {semconv.LOW_CONFIDENCE:g} confidence in the last {human(args.since)}.")
        return EXIT_OK
    _weekly_summary(turns, args.since)
    print(f"\nTurns {start + 1}–{start + len(page)} of {len(turns)} (page {args.page} of {pages}), oldest first:")
    for t in page:
        moment = datetime.fromtimestamp(t.time_ns // 1000 / 1e6, UTC)
        text = f"  «{cut(t.text, TEXT_CHARS)}»" if t.text else (f"  ({HIDDEN['ru']})" if role != OWNER else "")
        where = f"{moment:%Y-%m-%d %H:%M}  {t.conversation_id}  turn {t.turn_index}"
        print(printable(f"  {where}  {t.intent} {t.confidence:.2f}{text}"))
    if args.page < pages:
        limit = f" --limit {args.limit}" if args.limit != PAGE_SIZE else ""
        tenant = f" --tenant {args.tenant}" if args.tenant else ""
        print(
            f"\nNext page: botwatch audit weekly --since {_compact(args.since)}{limit}{tenant} --page {args.page + 1}"
        )
    first = page[0]
    print(
        f"Label one: botwatch audit label {printable(first.conversation_id)} --turn {first.turn_index} --correct "
        f"(or --wrong <true intent>)"
    )
    return EXIT_OK


def _compact(delta: timedelta) -> str:
    """The duration as ``--since`` takes it back: 8d, 12h, 90m, 45s."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _weekly_summary(turns: list[LowConfidenceTurn], since: timedelta) -> None:
    """Per intent: how many turns, in how many conversations, mean and lowest confidence."""
    by_intent: dict[str, list[LowConfidenceTurn]] = defaultdict(list)
    for t in turns:
        by_intent[printable(t.intent or "?")].append(t)
    conversations = len({t.conversation_id for t in turns})
    print(
        f"Intents below {semconv.LOW_CONFIDENCE:g} confidence, last {human(since)}: "
        f"{len(turns)} turns in {conversations} conversations\n"
    )
    width = max(len(i) for i in by_intent)
    for intent, group in sorted(by_intent.items(), key=lambda kv: -len(kv[1])):
        values = [t.confidence for t in group]
        print(
            f"  {intent:<{width}}  {len(values):>5} turns  mean {sum(values) / len(values):.2f}  min {min(values):.2f}"
        )


@audit_errors
def run_label(args: argparse.Namespace) -> int:
    options = SourceOptions.resolve(args.source)
    source = source_from(args, lookback=args.since)
    try:
        session = source.session(args.conversation_id)
        if session is None:
            raise NotFound(f"no conversation {args.conversation_id!r} ({source.description})")
        turn = source.turn_of(args.conversation_id, args.turn)
        if turn is None:
            raise NotFound(
                f"conversation {args.conversation_id!r} has no turn {args.turn} (it has {session.turns} turns)"
            )
    finally:
        source.close()
    intent = turn[0]
    if args.wrong is not None and not args.wrong.strip():
        raise UsageError("--wrong needs the intent the client really meant")
    review = Review(
        args.conversation_id,
        session.channel or "unknown",
        args.turn,
        intent,
        correct=args.correct,
        true_intent=intent if args.correct else args.wrong.strip(),
    )
    journal = journal_path(args.journal) if options.kind == "journal" else None
    try:
        telemetry = botwatch.init(service_name=args.service_name, journal=journal)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        trace_id = record_review(review)
    finally:
        botwatch.shutdown()
    print(
        f"review recorded: {args.conversation_id} turn {args.turn} {intent or '?'} → {review.verdict}"
        + ("" if args.correct else f" (really {review.true_intent})")
        + f" · trace {trace_id} · to {telemetry.destination}"
    )
    return EXIT_OK


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
